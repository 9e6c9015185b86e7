"""Typed schemas (pydantic) of what users and files hand us: configs, layouts, model folders."""
