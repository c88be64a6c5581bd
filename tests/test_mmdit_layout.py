"""The MMDiT's state-dict layout against upstream NAVA, on the meta device."""

import json
from pathlib import Path

from nava_model.config import get_preset
from nava_model.mmdit import parameter_summary
from nava_model.mmdit.loader import FILE_PREFIX, build_meta
from nava_model.random_init import state_dict_shapes

UPSTREAM_KEYS = Path(__file__).parent / "fixtures" / "mmdit_nava_6.3b_keys.json"


def test_every_key_and_shape_of_the_6_3b_model_matches_upstream_wan_av_model():
    upstream = {k: tuple(s) for k, s in json.loads(UPSTREAM_KEYS.read_text()).items()}
    ours = {FILE_PREFIX + k: s for k, s in state_dict_shapes(build_meta(get_preset("nava-6.3b"))).items()}
    assert sorted(set(upstream) - set(ours)) == []
    assert sorted(set(ours) - set(upstream)) == []
    assert {k: s for k, s in ours.items() if upstream[k] != s} == {}


def test_parameter_summary_of_the_release_model():
    assert parameter_summary(get_preset("nava-6.3b")) == (1052, 6_296_995_520)
