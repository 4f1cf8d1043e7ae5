"""Engines that run an audit beyond one in-memory frame (Dask)."""
