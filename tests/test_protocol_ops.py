"""Protocol-level operations: SOAP Autodiscover (GetUserSettings), GetServerTimeZones,
ConvertId between Exchange's id forms, GetSearchableMailboxes."""
import base64

import pytest
import requests
from exchangelib import Account, Configuration, Credentials, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorInvalidIdMalformed, ErrorNonExistentMailbox
from exchangelib.properties import ID_FORMATS, AlternateId

from conftest import ALICE, BOB, PASSWORD
from ews_sandbox.autodiscover import ANS

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


# ---- Autodiscover ---------------------------------------------------------------------

@pytest.fixture
def autodiscover_points_at_sandbox(sandbox, tmp_path, monkeypatch):
    """exchangelib's autodiscover cache, kept in a private file, primed with the sandbox's
    endpoint for contoso.example: what DNS would give a client of a real Exchange."""
    import exchangelib.autodiscover.cache as cache
    from exchangelib.autodiscover.protocol import AutodiscoverProtocol

    monkeypatch.setattr(cache, "AUTODISCOVER_PERSISTENT_STORAGE", tmp_path / "autodiscover-cache")
    cache.autodiscover_cache._protocols.clear()
    credentials = Credentials(ALICE, PASSWORD)
    cache.autodiscover_cache[("contoso.example", credentials)] = AutodiscoverProtocol(
        config=Configuration(service_endpoint=sandbox.autodiscover_url, credentials=credentials))
    yield credentials
    cache.autodiscover_cache._protocols.clear()


def test_account_with_autodiscover_finds_the_sandbox(clean, sandbox, autodiscover_points_at_sandbox):
    account = Account(ALICE, credentials=autodiscover_points_at_sandbox, autodiscover=True)
    assert account.protocol.service_endpoint == sandbox.ews_url
    assert account.ad_response.autodiscover_smtp_address == ALICE
    assert account.version.api_version == "Exchange2016"  # from EwsSupportedSchemas
    assert account.inbox.total_count == 0
    assert "GetUserSettings" in [entry["operation"] for entry in clean.requests()]


def test_autodiscover_of_an_unknown_address_is_invalid_user(sandbox, autodiscover_points_at_sandbox):
    from exchangelib.autodiscover import Autodiscovery
    from exchangelib.autodiscover.cache import autodiscover_cache

    with pytest.raises(ErrorNonExistentMailbox):
        Autodiscovery("nobody@contoso.example", credentials=autodiscover_points_at_sandbox).discover()
    protocol = autodiscover_cache[("contoso.example", autodiscover_points_at_sandbox)]
    answer = protocol.get_user_settings(user="someone@elsewhere.example")
    assert (answer.error_code, answer.error_message) == ("InvalidUser", "Invalid user 'someone@elsewhere.example'.")
    bob = protocol.get_user_settings(user=BOB)  # any signed-in user may look up another's settings
    assert bob.user_settings["user_display_name"] == "Bob Martin"
    assert bob.user_settings["user_dn"].endswith("-bob") and "/cn=Recipients/cn=" in bob.user_settings["user_dn"]
    assert bob.user_settings["external_ews_url"] == bob.user_settings["internal_ews_url"] == sandbox.ews_url
    assert bob.user_settings["cas_version"] == "15.01.2507.006"


def _get_user_settings(sandbox, mailbox, settings, version="Exchange2016", operation="GetUserSettings", auth=True):
    header = f"<a:RequestedServerVersion>{version}</a:RequestedServerVersion>" if version else ""
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="{SOAP}" xmlns:a="{ANS}" xmlns:wsa="http://www.w3.org/2005/08/addressing">
  <s:Header>{header}<wsa:Action>{ANS}/Autodiscover/{operation}</wsa:Action></s:Header>
  <s:Body><a:{operation}RequestMessage><a:Request><a:Users><a:User><a:Mailbox>{mailbox}</a:Mailbox></a:User></a:Users>
    <a:RequestedSettings>{''.join(f'<a:Setting>{s}</a:Setting>' for s in settings)}</a:RequestedSettings>
  </a:Request></a:{operation}RequestMessage></s:Body></s:Envelope>"""
    return requests.post(sandbox.autodiscover_url, data=body.encode(), verify=sandbox.ca_bundle,
                         auth=(ALICE, PASSWORD) if auth else None, headers={"Content-Type": "text/xml"})


def _find(answer, path):
    from lxml import etree
    return etree.fromstring(answer.content).findall(path.replace("a:", f"{{{ANS}}}"))


def test_autodiscover_asks_for_credentials_as_ews_does(sandbox):
    answer = _get_user_settings(sandbox, ALICE, ["UserDisplayName"], auth=False)
    assert answer.status_code == 401
    assert {"NTLM", 'Basic realm="ews-sandbox"'} <= set(answer.headers["WWW-Authenticate"].split(", "))
    wrong = requests.post(sandbox.autodiscover_url, data=b"<x/>", auth=(ALICE, "wrong"), verify=sandbox.ca_bundle)
    assert wrong.status_code == 401


def test_autodiscover_setting_errors_and_request_errors(sandbox):
    # Microsoft's "ErrorCode (SOAP)": settings the server lacks are SettingIsNotAvailable,
    # names it does not know InvalidSetting; both come beside the settings it has.
    answer = _get_user_settings(sandbox, ALICE, ["UserDisplayName", "InternalOABUrl", "NoSuchSetting"])
    assert answer.status_code == 200
    assert [e.text for e in _find(answer, ".//a:UserSettings/a:UserSetting/a:Value")] == ["Alice Wong"]
    errors = {e.findtext(f"{{{ANS}}}SettingName"): e.findtext(f"{{{ANS}}}ErrorCode")
              for e in _find(answer, ".//a:UserSettingErrors/a:UserSettingError")}
    assert errors == {"InternalOABUrl": "SettingIsNotAvailable", "NoSuchSetting": "InvalidSetting"}
    assert [e.text for e in _find(answer, "./*/*/a:Response/a:ErrorCode")] == ["NoError"]
    no_version = _get_user_settings(sandbox, ALICE, ["UserDisplayName"], version=None)
    assert [e.text for e in _find(no_version, "./*/*/a:Response/a:ErrorCode")] == ["InvalidRequest"]
    other = _get_user_settings(sandbox, ALICE, ["UserDisplayName"], operation="GetDomainSettings")
    assert other.status_code == 500 and b"GetDomainSettings" in other.content and b"Fault" in other.content


# ---- GetServerTimeZones ---------------------------------------------------------------

def _rule(definition, year):
    standard, daylight, period = definition.get_std_and_dst(for_year=year)
    return (period.bias_in_minutes, daylight.bias, (standard.iso_month, standard.occurrence, standard.time.hour),
            (daylight.iso_month, daylight.occurrence, daylight.time.hour))


def test_server_time_zones_carry_windows_rules(clean, connect):
    protocol = connect(ALICE).protocol
    names = list(protocol.get_timezones())
    assert len(names) == 140 and all(d.periods is None for d in names)  # names only, unless asked
    assert "W. Europe Standard Time" in {d.id for d in names}
    (paris,) = protocol.get_timezones(timezones=[EWSTimeZone("Europe/Copenhagen")], return_full_timezone_data=True)
    assert paris.id == "Romance Standard Time" and paris.name.startswith("(UTC+01:00) ")
    # UTC+1, one hour more from the last Sunday of March at 02:00 to the last of October at 03:00
    assert _rule(paris, 2024) == (-60, -60, (10, 5, 3), (3, 5, 2))
    (new_york,) = protocol.get_timezones(timezones=[EWSTimeZone("America/New_York")], return_full_timezone_data=True)
    assert _rule(new_york, 2006) == (300, -60, (10, 5, 2), (4, 1, 2))  # before the 2007 change
    assert _rule(new_york, 2020) == (300, -60, (11, 1, 2), (3, 2, 2))  # second Sunday of March
    (kolkata,) = protocol.get_timezones(timezones=[EWSTimeZone("Asia/Kolkata")], return_full_timezone_data=True)
    assert _rule(kolkata, 2020)[0] == -330 and len(kolkata.transitions_groups[0].transitions) == 1  # no DST


def test_an_unknown_time_zone_id_is_refused(clean, connect):
    from exchangelib.errors import ErrorTimeZone
    from exchangelib.services import GetServerTimeZones

    protocol = connect(ALICE).protocol
    unknown = type("Zone", (), {"ms_id": "Middle Earth Standard Time"})()
    with pytest.raises(ErrorTimeZone):
        list(GetServerTimeZones(protocol=protocol).call(timezones=[unknown], return_full_timezone_data=False))


# ---- ConvertId ------------------------------------------------------------------------

# An EwsId as Exchange makes it: another mailbox's GUID around a 46-byte folder entry id.
EXCHANGE_EWS_ID = ("AAMkADIxNDdkMTI4LTMxNTgtNGYzYy1iMGFlLWQxOTIzYTVlNTAwMgAuAAAAAAC"
                   "QxfuhknwST6zPr7QuwK7BAQDtzmFCgwmzTq/6+pzfxPNiAAAAAAEBAAA=")


def _convert(protocol, value, source, destination, mailbox=ALICE):
    return list(protocol.convert_ids([AlternateId(id=value, format=source, mailbox=mailbox)],
                                     destination_format=destination))[0]


def test_convert_id_round_trips_every_form(clean, connect):
    account = connect(ALICE)
    from exchangelib import Message
    item = Message(account=account, folder=account.drafts, subject="convert me").save()
    protocol = account.protocol
    entry_id = base64.b64decode(_convert(protocol, item.id, "EwsId", "EntryId").id)
    assert len(entry_id) == 70 and entry_id[20:22] == b"\x07\x00"  # a private message's entry id
    assert _convert(protocol, item.id, "EwsId", "HexEntryId").id == entry_id.hex().upper()
    for form in ID_FORMATS:
        converted = _convert(protocol, item.id, "EwsId", form)
        assert converted.format == form
        assert _convert(protocol, converted.id, form, "EwsId").id == item.id
    folder_entry = base64.b64decode(_convert(protocol, account.drafts.id, "EwsId", "EntryId").id)
    assert len(folder_entry) == 46 and folder_entry[20:22] == b"\x01\x00"


def test_convert_id_reads_exchange_ids_by_their_structure(clean, connect):
    account = connect(ALICE)
    account.root  # exchangelib learns the server's version on its first call, not on convert_ids
    protocol = account.protocol
    entry_id = base64.b64decode(_convert(protocol, EXCHANGE_EWS_ID, "EwsId", "EntryId").id)
    assert entry_id == base64.b64decode(EXCHANGE_EWS_ID)[-46:]
    assert _convert(protocol, EXCHANGE_EWS_ID, "EwsId", "EwsId").id == EXCHANGE_EWS_ID
    legacy = base64.b64decode(_convert(protocol, EXCHANGE_EWS_ID, "EwsId", "EwsLegacyId").id)
    assert legacy[:4] == b"\x00\x00\x15\x00" and legacy[4:25] == ALICE.encode()  # by SMTP address
    assert isinstance(_convert(protocol, "bm90IGFuIGlk", "EwsId", "EntryId"), ErrorInvalidIdMalformed)
    with pytest.raises(ErrorNonExistentMailbox):
        _convert(protocol, EXCHANGE_EWS_ID, "EwsId", "EntryId", mailbox="nobody@contoso.example")


def test_searchable_mailboxes_need_the_discovery_role(clean, connect):
    with pytest.raises(ErrorAccessDenied):
        connect(ALICE).protocol.get_searchable_mailboxes(expand_group_membership=True)
