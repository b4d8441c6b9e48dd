"""The recordings themselves, and replay in-process: every answer in tests/recordings/ is valid EWS
(messages.xsd), the API scenarios replay through exchangelib with sockets refused and return what
they returned against the sandbox, and matching sets aside what changes between runs."""
import json
import re
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


# ---- the recorder's scrubbing, on exchanges made up here ------------------------------------------

def _jwt(claims):
    import base64
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLXRoYXQtcHJvdmVzLWl0"


def _exchange(method, url, body, status, answer, request_headers=None, answer_headers=None):
    import io
    import requests
    from urllib3 import HTTPResponse
    request = requests.Request(method, url, data=body, headers=request_headers or {}).prepare()
    content = answer.encode() if isinstance(answer, str) else answer
    raw = HTTPResponse(body=io.BytesIO(content), headers=answer_headers or {}, status=status, preload_content=False)
    return request, requests.adapters.HTTPAdapter().build_response(request, raw)


def test_the_recorder_keeps_no_credential_and_pseudonyms_hide_the_person(tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import ews_record
    access = _jwt({"aud": "https://outlook.office365.com", "roles": ["full_access_as_app"], "upn": "erin@fabrikam.example",
                   "name": "Erin Example"})
    recorder = ews_record.Recorder(tmp_path, pseudonyms=True, secrets=["S3cret-Pa55"])
    recorder.write(*_exchange(
        "POST", "https://login.example/tenant/oauth2/v2.0/token",
        "grant_type=password&username=erin%40fabrikam.example&password=S3cret-Pa55&client_secret=app-secret-1",
        200, json.dumps({"access_token": access, "refresh_token": "0.AREFRESH-opaque", "id_token": access,
                         "client_info": "eyJ1aWQiOiIxMjMifQ", "expires_in": 3599, "token_type": "Bearer"}),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "session=abc123"},
        {"Content-Type": "application/json", "Set-Cookie": "fpc=secret-cookie"}))
    recorder.write(*_exchange(
        "POST", "https://mail.fabrikam.example/EWS/Exchange.asmx", "", 401, "",
        {"Authorization": "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="},
        {"WWW-Authenticate": "NTLM TlRMTVNTUAACAAAAHgAeADgAAAAFgoqiQ2hhbGxlbmdlRGF0YQ==", "Content-Type": "text/plain"}))
    recorder.write(*_exchange(
        "POST", "https://mail.fabrikam.example/EWS/Exchange.asmx",
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItem '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>', 200,
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body><t:Message>'
        '<t:ItemId Id="AAMkAGFiY2RlZmdoaWprbG1ub3A=" ChangeKey="CQAAABYAAAA"/><t:Subject>RE: Merger with Northwind</t:Subject>'
        '<t:Body BodyType="Text">Erin, the Northwind numbers: 4.2M.</t:Body><t:From><t:Mailbox><t:Name>Erin Example</t:Name>'
        '<t:EmailAddress>erin@fabrikam.example</t:EmailAddress></t:Mailbox></t:From><t:ConversationTopic>Merger with '
        'Northwind</t:ConversationTopic><t:Attachments><t:FileAttachment><t:Name>numbers.xlsx</t:Name>'
        '<t:Content>c2VjcmV0IG51bWJlcnM=</t:Content></t:FileAttachment></t:Attachments></t:Message></s:Body></s:Envelope>',
        {"Content-Type": "text/xml; charset=utf-8"}, {"Content-Type": "text/xml; charset=utf-8"}))
    text = "\n".join(p.read_text() for p in tmp_path.iterdir() if p.is_file() and p.name != ews_record.KEY_FILE)
    for secret in ("S3cret-Pa55", "app-secret-1", "AREFRESH", "abc123", "secret-cookie", "c2lnbmF0dXJlLXRoYXQtcHJvdmVzLWl0",
                   "TlRMTVNTUAAC", "TlRMTVNTUAAB", "eyJ1aWQiOiIxMjMifQ", access):
        assert secret not in text, secret
    for personal in ("erin", "Erin", "fabrikam", "Northwind", "Merger", "4.2M", "numbers.xlsx", "c2VjcmV0IG51bWJlcnM=",
                     "AAMkAGFiY2RlZmdoaWprbG1ub3A="):
        assert personal not in text, personal
    token = json.loads((tmp_path / "0001-token.response.json").read_text())
    claims = json.loads(__import__("base64").urlsafe_b64decode(token["access_token"].split(".")[1] + "=="))
    assert claims["roles"] == ["full_access_as_app"] and claims["upn"].endswith("@example.net")  # what it granted
    assert token["access_token"].endswith(".[redacted]") and token["refresh_token"] == "[redacted]"
    answer = (tmp_path / "0003-GetItem.response.xml").read_text()
    subject = re.search(r"<t:Subject>RE: (Subject \w+)</t:Subject>", answer).group(1)
    assert f"<t:ConversationTopic>{subject}</t:ConversationTopic>" in answer  # the same original, the same pseudonym
    assert 'BodyType="Text">Body text ' in answer and re.search(r"<t:Name>file-\w+\.xlsx</t:Name>", answer)
    index = json.loads((tmp_path / "recording.json").read_text())
    assert index["exchanges"][1]["response_headers"]["WWW-Authenticate"] == "NTLM [redacted]"
    assert all("Cookie" not in e["request_headers"] and "Set-Cookie" not in e["response_headers"]
               for e in index["exchanges"])
    assert (tmp_path / ".gitignore").read_text().startswith(ews_record.KEY_FILE)


def test_code_with_its_own_oauth_account_replays_a_scripts_recording():
    """replaying() alone (no `everywhere`) also answers exchangelib's token request: exchangelib
    mounts the adapter on the token endpoint. Code that knows nothing of the scripts, with the
    app's id and any secret, reads the inbox totals setup_oauth_client_credentials.py recorded."""
    from exchangelib import IMPERSONATION, Account, Configuration, Identity, OAuth2Credentials
    directory = RECORDINGS / "setup_oauth_client_credentials-app"
    scenario = json.loads((directory / "recording.json").read_text())["scenario"]
    env, shown = scenario["env"], json.loads(scenario["stdout"])

    class AtTheRecordedAuthority(OAuth2Credentials):  # the authority the recording was made against
        token_url = f"https://login.example/{env['EWS_TENANT_ID']}/oauth2/v2.0/token"

    credentials = AtTheRecordedAuthority(client_id=env["EWS_CLIENT_ID"], client_secret="not-the-real-one",
                                         tenant_id=env["EWS_TENANT_ID"], identity=Identity(primary_smtp_address=env["EWS_EMAIL"]))
    with replaying(directory) as player:
        account = Account(env["EWS_EMAIL"], access_type=IMPERSONATION, autodiscover=False,
                          config=Configuration(credentials=credentials, service_endpoint=REPLAY_URL))
        assert (account.inbox.total_count, account.inbox.unread_count) == (shown["inbox"]["total"], shown["inbox"]["unread"])
    assert player.served[0] == "0001-token" and player.unused() == []
