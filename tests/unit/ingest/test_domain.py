import pytest

from services.ingest.domain import (
    BadDuration,
    Probe,
    UnsupportedMediaType,
    check_declared_type,
    check_probe,
    require_format,
    sanitise_filename,
    sniff_format,
)


@pytest.mark.parametrize(
    "head,fmt",
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"ID3\x04\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),
    ],
)
def test_real_format_is_sniffed_from_the_bytes(head, fmt):
    assert sniff_format(head) == fmt


@pytest.mark.parametrize(
    "head", [b"", b"\x00" * 16, b"%PDF-1.7", b"RIFF\x00\x00\x00\x00AVI ", b"\xff\xd8\xff\xe0JFIF"]
)
def test_non_audio_is_refused_as_unsupported_media(head):
    with pytest.raises(UnsupportedMediaType, match="not WAV, FLAC"):
        require_format(head)


@pytest.mark.parametrize(
    "ct", ["audio/mpeg", "audio/wav; codecs=1", None, "application/octet-stream"]
)
def test_audio_media_types_are_accepted(ct):
    check_declared_type(ct)


@pytest.mark.parametrize("ct", ["text/plain", "image/png", "application/json"])
def test_other_media_types_get_415(ct):
    with pytest.raises(UnsupportedMediaType) as info:
        check_declared_type(ct)
    assert info.value.status == 415 and ct in info.value.message


def test_too_short_and_too_long_audio_are_refused_with_the_numbers():
    with pytest.raises(BadDuration, match="too short: 0.50 s"):
        check_probe(Probe(0.5, 44100, 2, "wav"), max_duration_s=1200)
    with pytest.raises(BadDuration, match="too long: 60.0 min; the limit is 20.0 min"):
        check_probe(Probe(3600, 44100, 2, "wav"), max_duration_s=1200)
    check_probe(Probe(30, 44100, 2, "wav"), max_duration_s=1200)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\song.mp3", "song.mp3"),
        ("  .hidden  ", "hidden"),
        ("", "upload"),
        (None, "upload"),
        ("Beyoncé – Halo.flac", "Beyoncé – Halo.flac"),
        ("a\x00b\nc.wav", "ab c.wav"),
    ],
)
def test_filenames_are_made_safe(name, expected):
    assert sanitise_filename(name) == expected


def test_very_long_filenames_are_shortened_keeping_the_extension():
    out = sanitise_filename("x" * 5000 + ".mp3")
    assert len(out) <= 120 and out.endswith(".mp3")
