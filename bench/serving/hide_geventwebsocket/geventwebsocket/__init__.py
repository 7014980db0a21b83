"""Hides gevent-websocket: put this directory first on PYTHONPATH and engine.io's gevent mode
falls back to simple-websocket (what a deployment without gevent-websocket installed gets)."""

raise ImportError("gevent-websocket hidden for the serving experiment")
