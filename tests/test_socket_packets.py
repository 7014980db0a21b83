"""web.socket_packets: JsonFirstPacket frames a payload as python-socketio's own packet does, for
every kind of payload; PacketJson's text reads back as what was sent; the app's Socket.IO server
uses both."""

from __future__ import annotations

import json

import pytest
from socketio import packet as sio_packet

from tests.factories import login
from web.socket_packets import JsonFirstPacket, PacketJson
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
def test_encodes_exactly_as_the_librarys_packet(kind, namespace, ack_id, data, monkeypatch) -> None:
    monkeypatch.setattr(sio_packet.Packet, "json", PacketJson)  # as the app's server sets it
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


@pytest.mark.parametrize(
    "data",
    [
        ACK_VIEW,
        ["task.updated", ACK_VIEW],
        {1: "an integer key", "x": None},  # orjson refuses: the standard library writes "1"
        [2**70, -(2**64)],  # beyond 64 bits: the standard library's exact digits
        ["lone \ud800 surrogate"],
        {"empty": [{}, [], ""], "zero": 0, "float": 0.1, "unicode": "Größe ½ — 名"},
    ],
)
def test_packet_json_reads_back_as_the_standard_library_would(data) -> None:
    text = PacketJson.dumps(data, separators=(",", ":"))
    assert isinstance(text, str)
    assert json.loads(text) == json.loads(json.dumps(data))
    assert PacketJson.loads(text) == json.loads(text)
    assert ", " not in text and ": " not in text  # compact, as the libraries ask


def test_packet_json_refuses_what_json_cannot_carry() -> None:
    for value in (b"\x00", {1, 2}, object()):
        with pytest.raises(TypeError):
            PacketJson.dumps(["x", value])


def test_packet_json_reads_a_clients_text_as_it_always_did() -> None:
    assert PacketJson.loads('[1, "é", null]') == [1, "é", None]
    assert PacketJson.loads("1" * 99) == int("1" * 99)  # exact, not orjson's float
    with pytest.raises(ValueError):
        PacketJson.loads("1" * 101)  # engineio's limit on a huge integer


def test_the_apps_socket_server_sends_its_acks_with_it(app, client) -> None:
    socketio = app.extensions["floor"].socketio
    assert socketio.server.packet_class is JsonFirstPacket
    assert socketio.server.packet_class.json is PacketJson
    login(client, badge="BADGE-PICKER-1")
    sio = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
    ack = sio.emit("task:next", {}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is True
    assert ack["task"] is None or isinstance(ack["task"]["id"], int)
    bad = sio.emit("scan", {"client_scan_id": "", "code": "X"}, namespace=NAMESPACE, callback=True)
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_client_scan_id"
