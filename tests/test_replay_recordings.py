"""The recordings themselves, and replay in-process: every answer in tests/recordings/ is valid EWS
(messages.xsd), the API scenarios replay through exchangelib with sockets refused and return what
they returned against the sandbox, and matching sets aside what changes between runs."""
import json
from pathlib import Path

import pytest
from lxml import etree

from ews_sandbox.replay import ReplayMismatch, canonical, replaying
from replay_scenarios import API, api_account, no_network  # noqa: F401 - no_network: every test here runs offline

RECORDINGS = Path(__file__).resolve().parent / "recordings"
REPLAY_URL = "https://ews.replay.invalid/EWS/Exchange.asmx"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"


def all_recordings():
    return sorted(path.parent for path in RECORDINGS.glob("*/recording.json"))


def exchanges():
    for directory in all_recordings():
        for entry in json.loads((directory / "recording.json").read_text())["exchanges"]:
            yield directory, entry


def test_the_recordings_hold_40_exchanges_of_25_operations_each_with_its_provenance():
    entries = list(exchanges())
    operations = {entry["operation"] for _, entry in entries} - {"empty", "token", "devicecode", "openid-configuration"}
    assert len(entries) >= 40 and len(operations) >= 25, (len(entries), sorted(operations))
    for directory in all_recordings():
        scenario = json.loads((directory / "recording.json").read_text())["scenario"]
        assert scenario["provenance"] and scenario["about"], directory.name


def test_every_answer_validates_against_the_ews_schema(schema_check):
    if schema_check is None:
        pytest.skip("set EWS_SCHEMA_DIR to a folder with messages.xsd to validate the recorded answers")
    checked, faults = 0, 0
    for directory, entry in exchanges():
        if not (entry.get("response") or "").endswith(".xml"):
            continue
        root = etree.parse(str(directory / entry["response"])).getroot()
        body = root.find(f"{{{SOAP}}}Body")
        assert body is not None and len(body) == 1, f"{directory.name}/{entry['response']}: no SOAP body"
        answer = body[0]
        if etree.QName(answer).namespace == SOAP:  # a SOAP fault: outside messages.xsd, its shape checked here
            assert answer.findtext("faultcode") and answer.findtext("faultstring"), entry["response"]
            faults += 1
            continue
        assert etree.QName(answer).namespace == MESSAGES, f"{directory.name}/{entry['response']}"
        errors = list(schema_check.schema.iter_errors(etree.tostring(answer)))
        assert not errors, f"{directory.name}/{entry['response']}: {errors[0].reason} at {errors[0].path}"
        checked += 1
    schema_check.checked += checked
    pytest._ews_schema_check = getattr(pytest, "_ews_schema_check", None) or schema_check  # counted in the summary
    assert checked >= 40 and faults >= 1


@pytest.mark.parametrize("name", sorted(API))
def test_an_api_scenario_replays_in_process(name):
    directory = RECORDINGS / name
    recorded = json.loads((directory / "recording.json").read_text())["scenario"]
    with replaying(directory) as player:
        result = API[name](api_account(REPLAY_URL))
    assert json.loads(json.dumps(result, default=str)) == recorded["result"]
    assert player.unused() == []
    assert len(player.served) == len(recorded and player.exchanges)


def test_error_answers_replay_as_exchangelib_exceptions():
    """ErrorSubscriptionNotFound, ErrorInvalidSubscription: the recorded scenario's result names them."""
    result = json.loads((RECORDINGS / "api-notifications-invalid-subscription" / "recording.json").read_text())
    assert result["scenario"]["result"]["get_events_on_streaming"] == "ErrorInvalidSubscription"
    with replaying(RECORDINGS / "api-notifications-invalid-subscription"):
        assert API["api-notifications-invalid-subscription"](api_account(REPLAY_URL)) == result["scenario"]["result"]


def test_an_unrecorded_request_raises_with_the_closest_recording_as_a_diff():
    with replaying(RECORDINGS / "api-oof"):
        account = api_account(REPLAY_URL)
        with pytest.raises(ReplayMismatch) as raised:
            account.inbox.filter(subject="nothing recorded").count()
    message = str(raised.value)
    assert "holds no answer to this GetFolder request" in message or "holds no answer to this FindItem" in message
    assert "asked:" in message and "closest recording: " in message


def test_asking_once_more_than_recorded_says_so():
    with replaying(RECORDINGS / "api-oof"):
        account = api_account(REPLAY_URL)
        account.oof_settings
        with pytest.raises(ReplayMismatch, match="asked once more than when it was recorded"):
            api_account(REPLAY_URL).oof_settings
            api_account(REPLAY_URL).oof_settings


def test_the_network_is_refused_during_these_tests():
    import socket
    with pytest.raises(OSError, match="network access blocked"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


ENVELOPE = """<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>
<t:RequestServerVersion Version="{version}"/>{zone}</s:Header><s:Body><m:UpdateItem ConflictResolution="AutoResolve">
<m:ItemChanges><t:ItemChange><t:ItemId Id="AAMkID1" ChangeKey="{changekey}"/><t:Updates><t:SetItemField>
<t:FieldURI FieldURI="item:ReminderDueBy"/><t:Message><t:ReminderDueBy>{when}</t:ReminderDueBy>
<t:ExtendedProperty><t:Value>{key}</t:Value></t:ExtendedProperty></t:Message></t:SetItemField></t:Updates>
</t:ItemChange></m:ItemChanges></m:UpdateItem></s:Body></s:Envelope>"""


def request(url="https://mail.contoso.example/EWS/Exchange.asmx", item_id="AAMkID1", **values):
    fields = {"version": "Exchange2016", "zone": "", "changekey": "CQAAAA1", "when": "2026-03-01T09:00:00Z",
              "key": "4f1c2b7e9a0d4c3e8b6a5d4c3b2a1f0e", **values}
    return canonical("POST", url, ENVELOPE.format(**fields).replace("AAMkID1", item_id))


def test_matching_sets_aside_change_keys_times_keys_hosts_and_the_header_but_not_the_request():
    same = request()
    assert request(changekey="CQAAAA2") == same
    assert request(when="2026-11-30T17:45:12.123+01:00") == same
    assert request(key="0e3580c6f354403cbeb3f3fee2fc6a2a") == same
    assert request(version="Exchange2013", zone='<t:TimeZoneContext><t:TimeZoneDefinition Id="UTC"/></t:TimeZoneContext>') == same
    assert request(url="https://127.0.0.1:8443/EWS/Exchange.asmx") == same
    assert request(item_id="AAMkID2") != same
    assert request(key="invoice-bot") != same
    assert request(url="https://mail.contoso.example/EWS/Other.asmx") != same


def test_token_requests_match_whatever_the_secret():
    recorded = canonical("POST", "https://login.example/t/oauth2/v2.0/token",
                         "grant_type=client_credentials&client_id=app&client_secret=%5Bredacted%5D&scope=s")
    asked = canonical("POST", "https://login.example/t/oauth2/v2.0/token",
                      "grant_type=client_credentials&client_id=app&client_secret=the-real-one&scope=s")
    assert recorded == asked
    assert canonical("POST", "https://login.example/t/oauth2/v2.0/token",
                     "grant_type=password&client_id=app&scope=s") != asked
