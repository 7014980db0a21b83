"""Socket.IO packets whose binary check is the JSON encoding itself.

python-socketio builds a packet for every ack and every emit (to a room with no one in it too)
and first walks the whole payload in Python, list by list, to learn whether any value is bytes
(those travel as binary attachments); then it encodes the payload as JSON. A scan's ack carries
two task views: the walk cost ~7 % of a scan's CPU in process (``bench/bench_scan_cpu.py``).

Here the payload is encoded first: JSON cannot carry bytes, so when it encodes, there are none,
and that text is the one sent. Only a payload JSON refuses is walked as before (bytes: sent as
attachments; anything else unencodable fails in the library's own encoding, as it did).
"""

from __future__ import annotations

from typing import Any

from socketio import packet as sio_packet


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
