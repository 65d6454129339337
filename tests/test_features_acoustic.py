"""Acoustic features: openSMILE LLDs with frame times, and averaging down to a frame rate."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.features.acoustic import acoustic_features, average_windows
from pipeline.features.config import AcousticConfig
from pipeline.features.media import load_audio, probe

from .features_support import MOSI_WAV, needs_mosi, sine


@needs_mosi
def test_egemaps_llds_of_real_speech():
    audio = load_audio(probe(MOSI_WAV))
    features = acoustic_features(audio, AcousticConfig())
    assert features.values.shape[1] == 25 and abs(len(features.values) - len(audio) / 160) < 5  # 100 frames/s
    assert np.allclose(np.diff(features.times[:, 0]), 0.01, atol=1e-4)
    assert np.isfinite(features.values).all()
    loudness = features.values[:, 0]
    assert loudness.max() > 5 * np.median(loudness[:5])  # speech is louder than its start


def test_compare_and_downsampling():
    audio = sine(2.0)
    assert acoustic_features(audio, AcousticConfig(feature_set="ComParE_2016")).dim == 65
    coarse = acoustic_features(audio, AcousticConfig(fps=10))
    assert len(coarse.values) == 20 and coarse.times[1].tolist() == pytest.approx([0.1, 0.2])


def test_average_windows_means_the_frames_of_each_window():
    values = np.arange(10, dtype=np.float32).reshape(5, 2)  # (5, 2)
    times = np.array([[0.0, 0.1], [0.1, 0.2], [0.2, 0.3], [0.5, 0.6], [0.55, 0.65]], np.float32)
    means, spans = average_windows(values, times, 0.25)
    assert means.tolist() == [[2.0, 3.0], [7.0, 8.0]]  # the window 0.25-0.5 s holds no frame: dropped
    assert spans.tolist() == [[0.0, 0.25], [0.5, 0.75]]


def test_unknown_feature_set_names_the_key():
    with pytest.raises(ValueError, match="features.audio.feature_set: unknown openSMILE feature set 'eGeMAPS3'"):
        acoustic_features(sine(0.5), AcousticConfig(feature_set="eGeMAPS3"))


@needs_mosi
@pytest.mark.parametrize("feature_set", ["eGeMAPSv02", "ComParE_2016"])
def test_long_audio_in_chunks_gives_the_frames_of_one_pass(monkeypatch, feature_set):
    # An hour of audio is processed CHUNK_SECONDS at a time (openSMILE keeps its whole output in
    # memory); chunks of 1 s over the 3.3 s MOSI sample must give openSMILE's single-call frames.
    import opensmile

    from pipeline.features import acoustic

    audio = load_audio(probe(MOSI_WAV))
    one_pass = opensmile.Smile(opensmile.FeatureSet[feature_set], opensmile.FeatureLevel.LowLevelDescriptors).process_signal(audio, 16_000)
    monkeypatch.setattr(acoustic, "CHUNK_SECONDS", 1)
    chunked = acoustic_features(audio, AcousticConfig(feature_set=feature_set))
    assert chunked.values.shape == one_pass.shape
    assert np.abs(chunked.values - one_pass.to_numpy(np.float32)).max() < 1e-4
    assert chunked.times[:, 0] == pytest.approx(one_pass.index.get_level_values("start").total_seconds().to_numpy(), abs=1e-4)
