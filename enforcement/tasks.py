"""Celery tasks of the enforcement domain (the beat schedule is in config/celery.py)."""
