"""Socket.IO packets whose binary check is the JSON encoding itself.

python-socketio builds a packet for every ack and every emit (to a room with no one in it too)
and first walks the whole payload in Python, list by list, to learn whether any value is bytes
(those travel as binary attachments); then it encodes the payload as JSON. A scan's ack carries
two task views: the walk cost ~7 % of a scan's CPU in process (``bench/bench_scan_cpu.py``).

Here the payload is encoded first: JSON cannot carry bytes, so when it encodes, there are none,
and that text is the one sent. Only a payload JSON refuses is walked as before (bytes: sent as
attachments; anything else unencodable fails in the library's own encoding, as it did).

``PacketJson`` is the JSON module of every packet (``SocketIO(json=...)``): orjson writes, the
standard library reads.
"""

from __future__ import annotations

from typing import Any

import orjson
from engineio import json as safe_json
from socketio import packet as sio_packet


class PacketJson:
    """What python-socketio and python-engineio encode and decode packets with.

    Writing is orjson's: a scan's ack (two task views, ~1.1 kB) takes 0.8 µs against the
    standard library's 10.2 µs, and under load a py-spy profile of the server flat out put 9 %
    of the GIL's time in the standard library's encoder. orjson's text is compact, in UTF-8
    rather than escaped to ASCII, and ``null`` for a NaN; what it refuses (keys that are not
    strings, integers beyond 64 bits, lone surrogates, bytes) goes to the standard library as
    before, which encodes the first three and raises ``TypeError`` for bytes.

    Reading stays engineio's standard-library ``loads``, which refuses integers of 100 digits
    and more: orjson would read a long integer as a float, and what a client sends is read as
    it always was."""

    @staticmethod
    def dumps(obj: Any, **_options: Any) -> str:  # always compact: the libraries ask for that
        try:
            return orjson.dumps(obj).decode()
        except orjson.JSONEncodeError:
            return safe_json.dumps(obj, separators=(",", ":"))

    loads = staticmethod(safe_json.loads)


class JsonFirstPacket(sio_packet.Packet):
    """The library's packet; the JSON text made while checking for bytes is the one sent."""

    def __init__(
        self,
        packet_type: int = sio_packet.EVENT,
        data: Any = None,
        namespace: str | None = None,
        id: int | None = None,  # noqa: A002 - the library's name
        binary: bool | None = None,
        encoded_packet: Any = None,
    ) -> None:
        self.text: str | None = None
        if binary is None and encoded_packet is None and data is not None:
            try:
                self.text = self.json.dumps(data, separators=(",", ":"))
                binary = False
            except TypeError:  # bytes, or a value JSON cannot carry: the library decides
                pass
        super().__init__(packet_type, data, namespace, id, binary, encoded_packet)

    def encode(self) -> Any:
        if self.text is None:
            return super().encode()
        head = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            head += self.namespace + ","
        if self.id is not None:
            head += str(self.id)
        return head + self.text
