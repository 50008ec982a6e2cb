"""Spillway node_status service."""
