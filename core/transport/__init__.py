"""The transport: every reach into python-engineio's, python-socketio's and Sanic's internals."""
