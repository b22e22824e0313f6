"""``python -m portico.agent --config FILE``: the agent without the controller's CLI stack."""

from __future__ import annotations

import argparse
from pathlib import Path

from portico.agent.config import AgentConfig
from portico.agent.server import run_agent


def main() -> None:
    parser = argparse.ArgumentParser(prog="portico-agent", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the agent's JSON config")
    run_agent(AgentConfig.load(parser.parse_args().config))


if __name__ == "__main__":
    main()
