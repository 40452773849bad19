import hashlib
import io

import numpy as np
import pytest
import soundfile as sf

from services.ingest.domain import NotDecodable, TooLarge
from services.ingest.spool import probe_file, spool


def _wav(seconds=3.0, sr=22050, subtype="PCM_16") -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 440 * t), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


async def _chunks(data: bytes, size=4096):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_spool_hashes_and_keeps_the_head(tmp_path):
    data = _wav()
    out = await spool(_chunks(data), limit_bytes=10**7, tmp_dir=tmp_path)
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    assert out.size_bytes == len(data) and out.head == data[:64]
    assert out.path.read_bytes() == data


async def test_spool_stops_at_the_limit_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(TooLarge, match="limit of 1000 bytes"):
        await spool(_chunks(b"x" * 5000, 100), limit_bytes=1000, tmp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_probe_reads_duration_rate_and_channels(tmp_path):
    p = tmp_path / "a.wav"
    p.write_bytes(_wav(3.0))
    probe = probe_file(p, fmt="wav")
    assert probe.duration_s == pytest.approx(3.0) and probe.sample_rate_hz == 22050
    assert probe.channels == 1


def test_probe_refuses_garbage_with_a_reason(tmp_path):
    p = tmp_path / "a.mp3"
    p.write_bytes(b"ID3" + bytes(range(256)) * 20)
    with pytest.raises(NotDecodable, match="MP3"):
        probe_file(p, fmt="mp3")


def test_probe_refuses_nan_samples(tmp_path):
    p = tmp_path / "nan.wav"
    x = np.zeros(22050 * 3, dtype=np.float32)
    x[100] = np.nan
    sf.write(p, x, 22050, subtype="FLOAT")
    with pytest.raises(NotDecodable, match="NaN"):
        probe_file(p, fmt="wav")
