"""Spillway cloud_provisioner service."""
