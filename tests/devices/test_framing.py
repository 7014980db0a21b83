"""The pure frame decoder: frames cut right however the bytes are chunked, and every bad
frame rejected with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.config import SerialDeviceConfig, Suffix
from devices.framing import Frame, FrameDecoder, RejectedFrame, RejectReason, raw_text


def decoder(**options) -> FrameDecoder:
    return FrameDecoder(SerialDeviceConfig(station="PACK-01", url="loop://", **options))


def texts(results) -> list[str]:
    return [r.text if isinstance(r, Frame) else f"<{r.reason}>" for r in results]


def test_frames_split_on_the_suffix_and_glued_frames_come_apart():
    d = decoder()
    assert texts(d.feed(b"5901234123457\rTOTE", 0.0)) == ["5901234123457"]
    assert d.pending == 4
    assert texts(d.feed(b"-07\rORD-1\r", 0.01)) == ["TOTE-07", "ORD-1"]
    assert d.pending == 0


def test_cr_mode_tolerates_crlf_and_lf_mode_tolerates_crlf():
    d = decoder(suffix=Suffix.cr)
    assert texts(d.feed(b"A\r", 0.0) + d.feed(b"\nB\r\nC\r", 0.01)) == ["A", "B", "C"]
    d = decoder(suffix=Suffix.lf)
    assert texts(d.feed(b"A\r\nB\n", 0.0)) == ["A", "B"]


def test_crlf_mode_needs_both():
    d = decoder(suffix=Suffix.crlf, gap_s=0.1)
    assert texts(d.feed(b"A\r\nB\r", 0.0)) == ["A"]
    assert texts(d.feed(b"\n", 0.01)) == ["B"]
    assert texts(d.feed(b"C\rD\r\n", 0.02)) == ["<non_printable>"]  # a lone CR inside


def test_prefix_stripped_and_gs_substitute_replaced():
    d = decoder(prefix="]C1", gs="<GS>")
    (frame,) = d.feed(b"]C10109501101530003" + b"10AB<GS>17261130\r", 0.0)
    assert frame.text == "0109501101530003" + "10AB\x1d17261130"
    assert frame.raw == b"]C10109501101530003" + b"10AB<GS>17261130"
    (other,) = d.feed(b"TOTE-01\r", 0.01)  # no prefix on this one: kept as sent
    assert other.text == "TOTE-01"


def test_real_gs_is_allowed_other_control_characters_are_not():
    d = decoder()
    assert texts(d.feed(b"01\x1d10AB\r", 0.0)) == ["01\x1d10AB"]
    (bad,) = d.feed(b"AB\x1bC\r", 0.0)
    assert isinstance(bad, RejectedFrame) and bad.reason is RejectReason.non_printable
    assert "\\x1b at 2" in bad.detail
    (invalid,) = d.feed(b"caf\xe9\r", 0.0)  # Latin-1, not UTF-8
    assert invalid.reason is RejectReason.non_printable and "UTF-8" in invalid.detail
    (utf8,) = d.feed("café\r".encode(), 0.0)
    assert utf8.text == "café"


def test_empty_and_prefix_only_frames():
    d = decoder(prefix="#")
    results = d.feed(b"\r   \r#\r", 0.0)
    assert [r.reason for r in results] == [RejectReason.empty] * 3


def test_over_long_frame_is_reported_once_and_discarded_to_the_next_suffix():
    d = decoder(max_len=8)
    first = d.feed(b"ABCDEFGHIJ", 0.0)
    assert [(r.reason, r.raw) for r in first] == [(RejectReason.too_long, b"ABCDEFGH")]
    assert d.feed(b"KLMNOPQRSTUVWXYZ", 0.01) == []  # still the same over-long frame
    assert texts(d.feed(b"XYZ\rOK\r", 0.02)) == ["OK"]
    assert texts(d.feed(b"123456789\r", 0.03)) == ["<too_long>"]  # complete, in one read


def test_partial_frame_reported_after_the_quiet_gap():
    d = decoder(gap_s=0.1)
    assert d.feed(b"5901", 0.0) == []
    assert d.flush(0.05) == []
    (partial,) = d.flush(0.1)
    assert (partial.reason, partial.raw) == (RejectReason.partial, b"5901")
    assert d.flush(0.5) == []


def test_new_burst_after_a_gap_does_not_glue_onto_old_bytes():
    d = decoder(gap_s=0.1)
    d.feed(b"OLD", 0.0)
    assert texts(d.feed(b"NEW\r", 1.0)) == ["<partial>", "NEW"]


def test_suffix_none_frames_end_with_a_quiet_gap():
    d = decoder(suffix=Suffix.none, gap_s=0.1)
    assert d.feed(b"TOTE", 0.0) == [] and d.feed(b"-07", 0.05) == []
    assert d.flush(0.1) == []  # 50 ms since the last byte
    assert texts(d.flush(0.2)) == ["TOTE-07"]
    d.feed(b"X" * 200, 1.0)
    assert texts(d.feed(b"OK", 2.0) + d.flush(3.0)) == ["OK"]  # overflow reset by the gap


def test_abort_turns_pending_bytes_into_a_partial_rejection():
    d = decoder(suffix=Suffix.none)
    d.feed(b"HALF", 0.0)
    assert texts(d.abort()) == ["<partial>"]
    assert d.abort() == []


def test_raw_text_is_printable_and_unambiguous():
    assert raw_text(b"AB\r\n\t\x1d\\\xff") == "AB\\r\\n\\t\\x1d\\\\\\xff"
    assert raw_text("é€".encode()) == "é€"


@pytest.mark.parametrize("suffix", [Suffix.cr, Suffix.lf, Suffix.crlf, Suffix.tab])
@given(
    codes=st.lists(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
        max_size=20,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_any_chunking_yields_exactly_the_codes_sent(suffix, codes, cuts):
    stream = b"".join(code.encode() + suffix.terminator for code in codes)
    d = decoder(suffix=suffix)
    results = []
    start = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        results += d.feed(stream[start:cut], 0.0)
        start = max(start, cut)
    assert texts(results) == codes
    assert d.pending == 0


@pytest.mark.parametrize("suffix", list(Suffix))
@given(chunks=st.lists(st.binary(max_size=300), max_size=10), gaps=st.lists(st.floats(0, 1)))
def test_arbitrary_bytes_never_raise(suffix, chunks, gaps):
    d = decoder(suffix=suffix, max_len=50, prefix="]C1", gs="~")
    now = 0.0
    for index, chunk in enumerate(chunks):
        now += gaps[index] if index < len(gaps) else 0.0
        for result in d.feed(chunk, now) + d.flush(now):
            if isinstance(result, Frame):
                assert result.text and all(c.isprintable() or c == "\x1d" for c in result.text)
                assert len(result.raw) <= 50
            else:
                assert result.reason in set(RejectReason)
                assert result.raw_text.isprintable()


def test_crlf_split_across_reads_at_the_length_limit():
    d = decoder(suffix=Suffix.crlf, max_len=4)
    assert d.feed(b"ABCD\r", 0.0) == []  # exactly max_len, the LF still to come
    assert texts(d.feed(b"\n", 0.01)) == ["ABCD"]
    assert texts(d.feed(b"ABCDEFG\r", 0.02)) == ["<too_long>"]
    assert texts(d.feed(b"\nOK\r\n", 0.03)) == ["OK"]  # the discarded frame ended at CR LF
