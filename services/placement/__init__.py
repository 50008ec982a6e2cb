"""Spillway placement service."""
