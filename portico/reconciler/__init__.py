"""The controller's reconcile loop: drives every load balancer to its desired generation."""
