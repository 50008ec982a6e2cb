"""Spillway services: one package per service, each with its handlers and its main."""
