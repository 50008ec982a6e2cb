"""The placement policy: pure, table-driven rules with reason codes (kube-scheduler filter plugin style)."""
