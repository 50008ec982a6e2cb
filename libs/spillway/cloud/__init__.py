"""The cloud seam: the provider Protocol, the TKE Serverless client on the SDK's async client, its errors."""
