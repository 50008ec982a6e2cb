"""Spillway admission service."""
