"""Renderers: each turns a Report into one format and computes nothing."""
