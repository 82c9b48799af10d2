#!/usr/bin/env python3
"""Health check of the Tahoe node image (exit 0 healthy, 1 not), by the node's role:
- introducer: its furl is published and its port accepts connections;
- storage: its port accepts connections;
- client: the web API answers and sees at least shares.happy storage servers (so uploads can succeed)."""
import json
import os
import re
import socket
import sys
import urllib.request

node = os.environ.get("TAHOE_NODE_DIR", "/var/lib/tahoe/node")


def fail(message):
    print(f"unhealthy: {message}")
    sys.exit(1)


def config():
    try:
        with open(os.path.join(node, "tahoe.cfg")) as f:
            return f.read()
    except OSError as e:
        fail(f"no node yet ({e.strerror})")


def value(text, key):
    match = re.search(rf"^{re.escape(key)}\s*=\s*(.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def port_open(endpoint):
    match = re.search(r"tcp:(\d+)", endpoint)
    if not match:
        fail(f"no TCP port in {endpoint!r}")
    try:
        socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=3).close()
    except OSError as e:
        fail(f"port {match.group(1)} refuses connections ({e.strerror})")


text = config()
role = open(os.path.join(node, "riverfs-role")).read().strip() if os.path.exists(os.path.join(node, "riverfs-role")) else ""
if role == "client":
    web = value(text, "web.port")
    port = re.search(r"tcp:(\d+)", web)
    if not port:
        fail(f"no web port in {web!r}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/?t=json", timeout=4) as answer:
            welcome = json.load(answer)
    except Exception as e:  # any failure to answer is unhealthy
        fail(f"web API: {e}")
    connected = sum(1 for server in welcome.get("servers", []) if server.get("connection_status", "").lower().startswith("connected"))
    happy = int(value(text, "shares.happy") or "1")
    if connected < happy:
        fail(f"{connected} storage server(s) connected, shares.happy is {happy}")
    print(f"healthy: {connected} storage server(s) connected")
else:
    port_open(value(text, "tub.port"))
    if role == "introducer" and not os.path.exists(os.path.join(node, "private", "introducer.furl")):
        fail("the introducer has not written its furl yet")
    print(f"healthy: {role or 'node'} listening")
