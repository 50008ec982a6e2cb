"""The TKE Serverless emulator: the TencentCloud API 3.0 for the EKS container-instance actions."""
