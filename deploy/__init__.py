"""Kubernetes deployment of context-service: kustomize base, overlays and the offline check."""
