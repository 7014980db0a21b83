"""web.socket_packets.JsonFirstPacket: what goes on the wire is what python-socketio's own packet
sends, for every kind of payload, and the app's Socket.IO server uses it."""

from __future__ import annotations

import pytest
from socketio import packet as sio_packet

from tests.factories import login
from web.socket_packets import JsonFirstPacket
from web.sockets import NAMESPACE

ACK_VIEW = {
    "ok": True,
    "result": "ok",
    "task": {"id": 7, "location": {"code": "A-01-A-1", "bay": 1}, "sku": {"gtins": ["0401"]}},
    "next_task": None,
    "note": "Größe 0 — ½ kg",
    "weights_g": [0, 12.5, -3],
}


@pytest.mark.parametrize(
    ("kind", "namespace", "ack_id", "data"),
    [
        (sio_packet.ACK, NAMESPACE, 12, [ACK_VIEW]),
        (sio_packet.EVENT, NAMESPACE, None, ["task.updated", ACK_VIEW]),
        (sio_packet.EVENT, "/", None, ["ping"]),
        (sio_packet.EVENT, None, 3, ["empty", {}, [], ""]),
        (sio_packet.CONNECT, NAMESPACE, None, {"sid": "abc"}),
        (sio_packet.DISCONNECT, NAMESPACE, None, None),
    ],
)
def test_encodes_exactly_as_the_librarys_packet(kind, namespace, ack_id, data) -> None:
    ours = JsonFirstPacket(kind, data=data, namespace=namespace, id=ack_id)
    theirs = sio_packet.Packet(kind, data=data, namespace=namespace, id=ack_id)
    assert ours.packet_type == theirs.packet_type
    assert ours.encode() == theirs.encode()
    back = sio_packet.Packet(encoded_packet=ours.encode())
    assert (back.packet_type, back.namespace, back.id, back.data) == (
        kind,
        namespace if namespace != "/" else None,
        ack_id,
        data,
    )


def test_bytes_still_travel_as_binary_attachments() -> None:
    data = ["label.png", {"name": "4x6", "png": b"\x89PNG\r\n"}]
    ours = JsonFirstPacket(sio_packet.EVENT, data=data, namespace=NAMESPACE)
    theirs = sio_packet.Packet(sio_packet.EVENT, data=data, namespace=NAMESPACE)
    assert ours.packet_type == sio_packet.BINARY_EVENT
    assert ours.encode() == theirs.encode()


def test_a_payload_json_cannot_carry_fails_as_it_did() -> None:
    with pytest.raises(TypeError):
        JsonFirstPacket(sio_packet.EVENT, data=["x", {1, 2}]).encode()


def test_the_apps_socket_server_sends_its_acks_with_it(app, client) -> None:
    socketio = app.extensions["floor"].socketio
    assert socketio.server.packet_class is JsonFirstPacket
    login(client, badge="BADGE-PICKER-1")
    sio = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
    ack = sio.emit("task:next", {}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is True
    assert ack["task"] is None or isinstance(ack["task"]["id"], int)
    bad = sio.emit("scan", {"client_scan_id": "", "code": "X"}, namespace=NAMESPACE, callback=True)
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_client_scan_id"
