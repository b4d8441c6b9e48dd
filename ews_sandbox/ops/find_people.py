"""FindPeople and GetPersona over a contacts folder.

A persona is Exchange's view of a person gathered from the contacts that name them.
The sandbox links no contacts together: each contact (or personal distribution list) of
the folder is one persona, whose id names that item. FindPeople answers the personas
of one folder that match the restriction and the query string (a name search, as
Exchange's people search is: each word starts a word of a name or an address), sorted
(by display name unless asked otherwise) and paged by an IndexedPageItemView; GetPersona
answers one persona with its values attributed to the contact they come from.

Checked against the EWS reference pages "FindPeople operation", "GetPersona operation"
and "Persona".
"""
from lxml import etree

from ..model import folders, ids, items
from ..model.properties import element_values, fold, parse_item
from ..query import restrictions
from ..wire.errors import EWSError, SOAPFault
from ..wire.ns import m, sub, t
from ..wire.paths import is_path, parse_path
from ..wire.soap import response_element, schema_fault
from .resolve_names import matches

PERSONA = b"P"
MAX_PAGE = 1000
SUMMARY = ("PersonaId", "PersonaType", "CreationTime", "DisplayName", "DisplayNameFirstLast",
           "DisplayNameLastFirst", "FileAs", "GivenName", "Surname", "CompanyName", "EmailAddress",
           "EmailAddresses", "ImAddress", "RelevanceScore")
# Phone keys of a contact and the attributed list of a persona they go to.
PHONE_LISTS = {"BusinessPhone": "BusinessPhoneNumbers", "BusinessPhone2": "BusinessPhoneNumbers2",
               "HomePhone": "HomePhones", "HomePhone2": "HomePhones2", "MobilePhone": "MobilePhones",
               "AssistantPhone": "AssistantPhoneNumbers", "Callback": "CallbackPhones", "CarPhone": "CarPhones",
               "HomeFax": "HomeFaxes", "CompanyMainPhone": "OrganizationMainPhones", "OtherFax": "OtherFaxes",
               "OtherTelephone": "OtherTelephones", "Pager": "Pagers", "RadioPhone": "RadioPhones",
               "Telex": "TelexNumbers", "TtyTddPhone": "TTYTDDPhoneNumbers", "BusinessFax": "WorkFaxes"}
ADDRESS_LISTS = {"Business": "BusinessAddresses", "Home": "HomeAddresses", "Other": "OtherAddresses"}
# The order of PersonaType's elements in the schema, for those the sandbox writes.
ORDER = ("PersonaId", "PersonaType", "CreationTime", "DisplayName", "DisplayNameFirstLast", "DisplayNameLastFirst",
         "FileAs", "GivenName", "MiddleName", "Surname", "Generation", "Nickname", "Title", "Department",
         "CompanyName", "EmailAddress", "EmailAddresses", "PhoneNumber", "ImAddress", "RelevanceScore",
         "FolderIds", "Attributions", "DisplayNames", "FileAses", "GivenNames", "MiddleNames", "Surnames",
         "Nicknames", "BusinessPhoneNumbers", "BusinessPhoneNumbers2", "HomePhones", "HomePhones2", "MobilePhones",
         "AssistantPhoneNumbers", "CallbackPhones", "CarPhones", "HomeFaxes", "OrganizationMainPhones", "OtherFaxes",
         "OtherTelephones", "Pagers", "RadioPhones", "TelexNumbers", "TTYTDDPhoneNumbers", "WorkFaxes",
         "Emails1", "Emails2", "Emails3", "ImAddresses", "ImAddresses2", "ImAddresses3",
         "BusinessAddresses", "HomeAddresses", "OtherAddresses", "Titles", "Departments", "CompanyNames")


# ---- FindPeople -----------------------------------------------------------------------

def find_people(ctx, body):
    try:
        return _find_people(ctx, body)
    except EWSError as error:  # FindPeople's answer is one flat response message
        response = response_element("FindPeople")
        response.set("ResponseClass", "Error")
        sub(response, m("MessageText"), error.text)
        sub(response, m("ResponseCode"), error.code)
        sub(response, m("DescriptiveLinkKey"), "0")
        return response


def _find_people(ctx, body):
    folder = _folder(ctx, body)
    view = body.find(m("IndexedPageItemView"))
    if view is None:
        raise schema_fault("The element 'FindPeople' has incomplete content: IndexedPageItemView is expected.")
    wanted = _shape(body.find(m("PersonaShape")))
    restriction = restrictions.parse_restriction(body.find(m("Restriction")))
    query = (body.findtext(m("QueryString")) or "").strip()
    found = []
    for row in _people_rows(ctx.conn, folder):
        persona = persona_element(row)
        if restriction is not None and not restrictions.evaluate(restriction, _values_of(persona)):
            continue
        if query and not _named(persona, query):
            continue
        found.append(persona)
    found = _sorted(found, body.find(m("SortOrder")))
    offset = int(view.get("Offset", "0"))
    size = min(int(view.get("MaxEntriesReturned", str(MAX_PAGE))), MAX_PAGE)
    if view.get("BasePoint") == "End":
        offset = max(len(found) - offset - size, 0)
    response = response_element("FindPeople")
    response.set("ResponseClass", "Success")
    sub(response, m("ResponseCode"), "NoError")
    people = sub(response, m("People"))
    for persona in found[offset:offset + size]:
        people.append(_shaped(persona, wanted))
    sub(response, m("TotalNumberOfPeopleInView"), str(len(found)))
    sub(response, m("FirstMatchingRowIndex"), "0")
    sub(response, m("FirstLoadedRowIndex"), str(offset))
    return response


def _folder(ctx, body):
    parent = body.find(m("ParentFolderId"))
    if parent is None or len(parent) == 0:
        return folders.distinguished(ctx.conn, ctx.mailbox_id, "contacts")
    folder = ctx.folder(parent[0])
    if folder["element"] != "ContactsFolder":
        raise EWSError("ErrorInvalidRequest", "FindPeople searches a contacts folder.")
    return folder


def _people_rows(conn, folder):
    return conn.execute("SELECT * FROM items WHERE folder_id = ? AND is_associated = 0 "
                        "AND element IN ('Contact', 'DistributionList') ORDER BY id", (folder["id"],)).fetchall()


def _shape(shape):
    """The names a PersonaShape asks for: IdOnly gives the id (and what it adds)."""
    if shape is None:
        return set(SUMMARY)
    base = (shape.findtext(t("BaseShape")) or "IdOnly").strip()
    names = {"PersonaId"} if base == "IdOnly" else set(SUMMARY)
    additional = shape.find(t("AdditionalProperties"))
    if additional is not None:
        names |= {parse_path(p).name for p in additional if is_path(p)}
    return names


def _shaped(persona, names):
    for element in list(persona):
        if etree.QName(element).localname not in names:
            persona.remove(element)
    return persona


def _values_of(persona):
    def values(path):
        element = persona.find(t(path.name))
        return element_values(element) if element is not None else None
    return values


def _named(persona, query):
    names = [persona.findtext(t(n)) for n in ("DisplayName", "GivenName", "Surname", "FileAs", "CompanyName")]
    addresses = [a.findtext(t("EmailAddress")) for a in persona.iterfind(f"{t('EmailAddresses')}/{t('Address')}")]
    return any(matches(query, address, None) for address in addresses if address) or \
        any(matches(query, None, name) for name in names if name)


def _sorted(found, sort_order):
    keys = []
    for field_order in (sort_order if sort_order is not None else []):
        paths = [parse_path(p) for p in field_order if is_path(p)]
        if paths:
            keys.append((paths[0].name, field_order.get("Order") == "Descending"))
    for name, descending in reversed(keys or [("DisplayName", False)]):
        present = [p for p in found if p.findtext(t(name))]
        missing = [p for p in found if not p.findtext(t(name))]
        present.sort(key=lambda p: fold(p.findtext(t(name))), reverse=descending)
        found = missing + present if not descending else present + missing
    return found


# ---- GetPersona -----------------------------------------------------------------------

def get_persona(ctx, body):
    """The schema's GetPersonaResponseMessage must hold a Persona: a persona that cannot be
    answered is refused with a SOAP fault carrying the error's code."""
    response = etree.Element(m("GetPersonaResponseMessage"), nsmap=response_element("GetPersona").nsmap)
    persona_id = body.find(m("PersonaId"))
    if persona_id is None:
        raise schema_fault("The element 'GetPersona' has incomplete content: PersonaId is expected.")
    try:
        row = _persona_row(ctx, persona_id)
    except EWSError as error:
        raise SOAPFault(error.code, error.text, fault_code=f"a:{error.code}")
    response.set("ResponseClass", "Success")
    sub(response, m("ResponseCode"), "NoError")
    persona = persona_element(row, attributed=True)
    persona.tag = m("Persona")
    response.append(persona)
    return response


def _persona_row(ctx, persona_id):
    mailbox_id, item_id = ids.decode(persona_id.get("Id"), PERSONA)
    ctx.check_access(mailbox_id)
    row = ctx.conn.execute("SELECT * FROM items WHERE id = ? AND mailbox_id = ?", (item_id, mailbox_id)).fetchone()
    if row is None or row["element"] not in ("Contact", "DistributionList"):
        raise EWSError("ErrorItemNotFound", "The persona was not found.")
    return row


# ---- building a persona -----------------------------------------------------------------

def persona_element(row, attributed=False):
    """The persona of one contact or personal list, its elements in the schema's order."""
    item = parse_item(row["xml"])
    text = {name: (item.findtext(t(name)) or "").strip() for name in
            ("DisplayName", "GivenName", "MiddleName", "Surname", "Generation", "Nickname", "FileAs",
             "CompanyName", "JobTitle", "Department")}
    display = text["DisplayName"] or " ".join(filter(None, (text["GivenName"], text["Surname"])))
    first_last = " ".join(filter(None, (text["GivenName"], text["Surname"]))) or display
    last_first = ", ".join(filter(None, (text["Surname"], text["GivenName"]))) or display
    values = {
        "PersonaType": "DistributionList" if row["element"] == "DistributionList" else "Person",
        "CreationTime": row["created"], "DisplayName": display, "DisplayNameFirstLast": first_last,
        "DisplayNameLastFirst": last_first, "FileAs": text["FileAs"] or last_first,
        "GivenName": text["GivenName"], "MiddleName": text["MiddleName"], "Surname": text["Surname"],
        "Generation": text["Generation"], "Nickname": text["Nickname"], "Title": text["JobTitle"],
        "Department": text["Department"], "CompanyName": text["CompanyName"], "RelevanceScore": "2147483647",
    }
    parts = {}
    parts["PersonaId"] = etree.Element(t("PersonaId"), Id=ids.encode(PERSONA, row["mailbox_id"], row["id"]))
    for name, value in values.items():
        if value:
            parts[name] = _text(name, value)
    addresses = _email_addresses(item, display)
    if addresses:
        parts["EmailAddress"] = _mailbox("EmailAddress", *addresses[0][1:])
        listing = etree.Element(t("EmailAddresses"))
        for _, name, address in addresses:
            listing.append(_mailbox("Address", name, address))
        parts["EmailAddresses"] = listing
    im = _entries(item, "ImAddresses")
    if im:
        parts["ImAddress"] = _text("ImAddress", im[0][1])
    if attributed:
        _add_attributed(parts, row, item, values, addresses, im)
    persona = etree.Element(t("Persona"))
    for name in ORDER:
        if name in parts:
            persona.append(parts[name])
    return persona


def _add_attributed(parts, row, item, values, addresses, im):
    """GetPersona's lists, every value attributed to the contact (attribution "0")."""
    attributions = etree.Element(t("Attributions"))
    attribution = sub(attributions, t("Attribution"))
    sub(attribution, t("Id"), "0")
    sub(attribution, t("SourceId"), Id=items.item_id_text(row), ChangeKey=row["change_key"])
    sub(attribution, t("DisplayName"), values["DisplayName"] or "")
    sub(attribution, t("IsWritable"), "true")
    sub(attribution, t("IsQuickContact"), "false")
    sub(attribution, t("IsHidden"), "false")
    parts["Attributions"] = attributions
    for single, plural in (("DisplayName", "DisplayNames"), ("GivenName", "GivenNames"),
                           ("MiddleName", "MiddleNames"), ("Surname", "Surnames"), ("Nickname", "Nicknames"),
                           ("Title", "Titles"), ("Department", "Departments"), ("CompanyName", "CompanyNames")):
        if values[single]:
            parts[plural] = _attributed(plural, "StringAttributedValue", [_text("Value", values[single])])
    for key, name, address in addresses:
        number = key[-1] if key[-1] in "123" else "1"
        parts[f"Emails{number}"] = _attributed(f"Emails{number}", "EmailAddressAttributedValue",
                                               [_mailbox("Value", name, address)])
    if im:
        parts["ImAddresses"] = _attributed("ImAddresses", "StringAttributedValue",
                                           [_text("Value", value) for _, value in im])
    for key, number in _entries(item, "PhoneNumbers"):
        if key in PHONE_LISTS:
            value = etree.Element(t("Value"))
            sub(value, t("Number"), number)
            sub(value, t("Type"), key)
            parts[PHONE_LISTS[key]] = _attributed(PHONE_LISTS[key], "PhoneNumberAttributedValue", [value])
    container = item.find(t("PhysicalAddresses"))
    for entry in (container if container is not None else []):
        if entry.get("Key") in ADDRESS_LISTS:
            value = etree.Element(t("Value"))
            for part, persona_part in (("Street", "Street"), ("City", "City"), ("State", "State"),
                                       ("CountryOrRegion", "Country"), ("PostalCode", "PostalCode")):
                if entry.findtext(t(part)):
                    sub(value, t(persona_part), entry.findtext(t(part)))
            sub(value, t("Type"), entry.get("Key"))
            name = ADDRESS_LISTS[entry.get("Key")]
            parts[name] = _attributed(name, "PostalAddressAttributedValue", [value])


def _attributed(name, value_name, values):
    container = etree.Element(t(name))
    for value in values:
        holder = sub(container, t(value_name))
        holder.append(value)
        sub(sub(holder, t("Attributions")), t("Attribution"), "0")
    return container


def _email_addresses(item, display):
    """(key, name, address) of a contact's addresses, or of a list's members' none: a
    personal list has no address of its own."""
    found = []
    for key, address in _entries(item, "EmailAddresses"):
        if address.lower().startswith("smtp:"):
            address = address[5:]
        found.append((key, display, address))
    return found


def _entries(item, container_name):
    container = item.find(t(container_name))
    if container is None:
        return []
    return [(entry.get("Key"), entry.text.strip()) for entry in container if entry.text and entry.text.strip()]


def _mailbox(tag, name, address):
    mailbox = etree.Element(t(tag))
    sub(mailbox, t("Name"), name or address)
    sub(mailbox, t("EmailAddress"), address)
    sub(mailbox, t("RoutingType"), "SMTP")
    sub(mailbox, t("MailboxType"), "Contact")
    return mailbox


def _text(name, value):
    element = etree.Element(t(name))
    element.text = value
    return element


OPERATIONS = {"FindPeople": find_people, "GetPersona": get_persona}
