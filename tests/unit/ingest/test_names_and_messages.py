"""File names keep their Unicode (issue 12, item 9); decoder failures are told in our words,
never with the server's temporary file path (item 6)."""

from __future__ import annotations

import io
import re
import unicodedata

import numpy as np
import pytest
import soundfile as sf

from services.ingest.domain import MAX_FILENAME_CHARS, NotDecodable, sanitise_filename
from services.ingest.spool import probe_file

PATHLIKE = re.compile(r"/tmp|/var/|/work|/home|/root|\.spool|k1-upload-|[A-Za-z]:\\|\\\\")


@pytest.mark.parametrize(
    "name,expected",
    [
        ("ñandú—song 🎵.wav", "ñandú—song 🎵.wav"),
        (unicodedata.normalize("NFD", "ñandú.wav"), "ñandú.wav"),  # decomposed in, composed out
        ("日本語の歌.mp3", "日本語の歌.mp3"),
        ("evil\u202egnp.wav", "evilgnp.wav"),  # right-to-left override
        ("zero\u200bwidth\ufeff.wav", "zerowidth.wav"),
        ("👨\u200d👩\u200d👧 family.ogg", "👨\u200d👩\u200d👧 family.ogg"),  # joiners kept
        ("tab\tand\nnewline\x07.wav", "tab and newline.wav"),
        ("..\\..\\Windows\\ëvil.wav", "ëvil.wav"),
        ('a<b>c:d|e?f*g".wav', "a_b_c_d_e_f_g_.wav"),
        ("\u2028\u2029", "upload"),
    ],
)
def test_unicode_names_are_kept_and_cleaned(name, expected):
    out = sanitise_filename(name)
    assert out == expected
    assert out == unicodedata.normalize("NFC", out)


def test_long_unicode_names_are_capped_in_characters_keeping_the_extension():
    out = sanitise_filename("ñ" * 500 + ".flac")
    assert len(out) == MAX_FILENAME_CHARS and out.endswith(".flac") and out.startswith("ñññ")


def _encoded(fmt: str) -> bytes:
    sr = 22050
    x = (0.3 * np.sin(np.arange(sr * 10) * 0.06)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt,cut,reason",
    [
        ("OGG", 200, "damaged or incomplete"),
        ("FLAC", 200, "damaged"),
        ("FLAC", 3, "truncated"),  # a third of the file
        ("MP3", 200, "no audio stream"),
    ],
)
def test_decoder_failures_are_explained_without_paths(tmp_path, fmt, cut, reason):
    data = _encoded(fmt)
    path = tmp_path / "k1-upload-abc"
    path.write_bytes(data[:cut] if cut > 3 else data[: len(data) // cut])
    with pytest.raises(NotDecodable) as caught:
        probe_file(path, fmt=fmt.lower())
    message = caught.value.message
    assert f"the {fmt} file cannot be decoded" in message and reason in message, message
    assert not PATHLIKE.search(message) and str(tmp_path) not in message, message


def test_garbage_after_an_ogg_magic_is_explained_without_paths(tmp_path):
    path = tmp_path / "k1-upload-xyz"
    path.write_bytes(b"OggS" + bytes(1000))
    with pytest.raises(NotDecodable) as caught:
        probe_file(path, fmt="ogg")
    assert "cannot be decoded" in caught.value.message
    assert not PATHLIKE.search(caught.value.message), caught.value.message
