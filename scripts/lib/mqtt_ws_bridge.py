#!/usr/bin/python3
"""MQTT over WebSocket for a broker that has no WebSocket listener (Debian's Mosquitto 2.0.11
is built without one): Debian's websockify, which carries each WebSocket connection to the
broker's TCP port, with one change: it accepts the "mqtt" subprotocol that MQTT clients offer
(MQTT 3.1.1 §6, MQTT 5 §6: the client must offer it, the server must choose it). websockify
itself picks only "binary" or none, so a browser offering "mqtt" would be refused.

Usage: mqtt_ws_bridge.py [websockify options] LISTEN_HOST:PORT BROKER_HOST:PORT
(the arguments are websockify's; scripts/run-stack starts it).
"""
import sys

from websockify import websocketproxy, websockifyserver

MQTT_SUBPROTOCOLS = ("mqtt", "mqttv3.1")
_select_websockify = websockifyserver.CompatibleWebSocket.select_subprotocol


def select_subprotocol(self, protocols):
    # The answer must be one of the offered strings exactly as split, spaces and all.
    for wanted in MQTT_SUBPROTOCOLS:
        for offered in protocols:
            if offered.strip() == wanted:
                return offered
    return _select_websockify(self, protocols)


websockifyserver.CompatibleWebSocket.select_subprotocol = select_subprotocol

if __name__ == "__main__":
    sys.argv[0] = "websockify"
    sys.exit(websocketproxy.websockify_init())
