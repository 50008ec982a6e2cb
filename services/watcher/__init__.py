"""Spillway watcher service."""
