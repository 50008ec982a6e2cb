"""The TKE Serverless emulator: the TencentCloud API 3.0 for the EKS container-instance actions.

Services and the SDK cannot tell it from the real endpoint (TC3 signatures are verified);
faults are injectable for tests and benchmarks.
"""
