"""Sinfonia: a research data repository for multi-centre medical-imaging studies."""

__version__ = "0.1.0"
