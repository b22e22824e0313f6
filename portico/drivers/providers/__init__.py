"""Provider drivers: what turns a load balancer's desired state into running load balancing."""
