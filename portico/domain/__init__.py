"""The object model's rules: constants, status state machine, validation. Pure: no I/O."""
