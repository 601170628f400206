"""``userprofile.SetUserProfile`` (protocol notes §5.10) as a client call, over the sandbox."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from lpbot.errors import RequestRejected
from lpbot.protocol import SetUserProfile, decode_request, encode

PROFILE = SetUserProfile(
    first_name="Ada", last_name="Lovelace", nickname="ada", user_id="customer-42",
    avatar_url="https://example.com/ada.png", role="consumer",
    background_image_uri="https://example.com/bg.png", description="analyst",
    sdes=(MappingProxyType({"type": "ctmrinfo", "info": {"customerId": "42"}}),),
    private_data=MappingProxyType({"mobileNum": "+44 20 7946 0000", "mail": "ada@example.com"}))


def test_the_profile_goes_out_under_the_documented_names():
    frame = json.loads(encode(PROFILE, "7"))
    assert frame["type"] == "userprofile.SetUserProfile"
    assert frame["body"] == {
        "firstName": "Ada", "lastName": "Lovelace", "nickName": "ada", "userId": "customer-42",
        "avatarUrl": "https://example.com/ada.png", "role": "consumer",
        "backgndImgUri": "https://example.com/bg.png", "description": "analyst",
        "authenticatedData": {"lp_sdes": [{"type": "ctmrinfo", "info": {"customerId": "42"}}]},
        "privateData": {"mobileNum": "+44 20 7946 0000", "mail": "ada@example.com"}}
    assert json.loads(encode(SetUserProfile(first_name="Ada"), "8"))["body"] == {
        "firstName": "Ada"}  # only the fields given
    assert decode_request(encode(PROFILE, "7")) == PROFILE


def test_a_client_sets_its_profile_before_asking_for_a_conversation(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    assert client.set_user_profile(PROFILE) == "OK User Profile set successfully"
    assert client.open_conversation().send_text("hello, it's Ada") >= 0


def test_a_refused_profile_is_a_typed_error(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    sandbox.faults.reject_next(1, 400)
    with pytest.raises(RequestRejected) as caught:
        client.set_user_profile(SetUserProfile(first_name="Ada"))
    assert caught.value.code == 400
    assert caught.value.request_type == "userprofile.SetUserProfile"
