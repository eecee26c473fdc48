"""The demo's Open311 set-up: its jurisdiction, a few service attributes and an API key.

`yunbao demo` calls `ensure_demo_client()` on every run and prints the key it returns, so
`make run` always shows a working key. In demo mode (`YUNBAO_DEMO=true`) only, the key is
derived from SECRET_KEY (`apikeys.key_from_seed`): the same on every start of one
installation, unknown to anyone without its secret, and it changes when the secret does
(the stored hash is updated to match). Outside demo mode nothing is created and None is
returned, so a real installation never gets a key it did not ask for.
"""

from __future__ import annotations

from django.conf import settings

from yunbao.catalog.models import Category
from yunbao.geo.models import Area
from yunbao.lib import apikeys
from yunbao.open311.actions import KEY_NAMESPACE
from yunbao.open311.models import ApiClient, Datatype, Jurisdiction, ServiceAttribute

DEMO_JURISDICTION = "demo.yunbao.org"
DEMO_CLIENT = "Demo client (demo mode)"

YES_NO = [
    {"key": "yes", "name": "是", "name_en": "Yes"},
    {"key": "no", "name": "否", "name_en": "No"},
]
# (category code, attribute code, fields): a few questions a client app would ask.
DEMO_ATTRIBUTES: list[tuple[str, str, dict[str, object]]] = [
    (
        "E0102",
        "bags",
        {
            "datatype": Datatype.NUMBER,
            "order": 1,
            "description": "大约有几袋垃圾？",
            "description_en": "About how many bags of garbage?",
            "datatype_description": "填一个数字",
            "datatype_description_en": "A number",
        },
    ),
    (
        "E0102",
        "blocking",
        {
            "datatype": Datatype.SINGLE,
            "required": True,
            "order": 2,
            "description": "是否阻挡道路或人行道？",
            "description_en": "Is it blocking the road or the pavement?",
            "values": YES_NO,
        },
    ),
    (
        "E0110",
        "size",
        {
            "datatype": Datatype.SINGLE,
            "order": 1,
            "description": "破损有多大？",
            "description_en": "How large is the damage?",
            "values": [
                {"key": "small", "name": "小于一个井盖", "name_en": "Smaller than a manhole cover"},
                {"key": "medium", "name": "约一米", "name_en": "About a metre"},
                {"key": "large", "name": "大于一米", "name_en": "Larger than a metre"},
            ],
        },
    ),
    (
        "E0110",
        "blocking",
        {
            "datatype": Datatype.SINGLE,
            "required": True,
            "order": 2,
            "description": "是否阻挡道路？",
            "description_en": "Is it blocking the road?",
            "values": YES_NO,
        },
    ),
    (
        "C0118",
        "fault",
        {
            "datatype": Datatype.MULTI,
            "order": 1,
            "description": "路灯有什么问题？",
            "description_en": "What is wrong with the street lamp?",
            "values": [
                {"key": "dark", "name": "不亮", "name_en": "Not lit"},
                {"key": "flicker", "name": "闪烁", "name_en": "Flickering"},
                {"key": "daytime", "name": "白天亮着", "name_en": "Lit in the daytime"},
                {"key": "pole", "name": "灯杆损坏", "name_en": "Damaged pole"},
            ],
        },
    ),
    (
        "E0401",
        "safety",
        {
            "variable": False,
            "datatype": Datatype.TEXT,
            "order": 0,
            "description": "如有人员受伤或车辆掉落，请立即拨打 110 或 120。",
            "description_en": "If anyone is hurt or a vehicle fell in, call 110 or 120 now.",
        },
    ),
]


def ensure_demo_attributes() -> int:
    """Create the demo attributes whose categories exist; returns how many were created."""
    categories = Category.objects.in_bulk(
        [code for code, _, _ in DEMO_ATTRIBUTES], field_name="code"
    )
    made = 0
    for category_code, code, fields in DEMO_ATTRIBUTES:
        if category_code in categories:
            _, created = ServiceAttribute.objects.get_or_create(
                category=categories[category_code], code=code, defaults=fields
            )
            made += created
    return made


def ensure_demo() -> Jurisdiction | None:
    """The demo district's jurisdiction (demo.yunbao.org) and attributes, once it is loaded."""
    area = Area.objects.filter(jurisdiction_id=DEMO_JURISDICTION).order_by("path").first()
    if area is None:
        return None
    jurisdiction, _ = Jurisdiction.objects.get_or_create(
        jurisdiction_id=DEMO_JURISDICTION, defaults={"name": area.name, "area": area}
    )
    ensure_demo_attributes()
    return jurisdiction


def demo_key() -> str:
    return apikeys.key_from_seed(KEY_NAMESPACE, f"open311-demo:{settings.SECRET_KEY}")


def ensure_demo_client() -> str | None:
    """The demo's Open311 API key (made or brought up to date); None outside demo mode or
    when an administrator switched the demo client off."""
    if not settings.DEMO:
        return None
    ensure_demo()
    plain = demo_key()
    client = ApiClient.objects.filter(name=DEMO_CLIENT).first()
    if client is None:
        client = ApiClient.objects.filter(key_prefix=apikeys.split_prefix(plain)).first()
    if client is None:
        client = ApiClient(name=DEMO_CLIENT, contact="demo")
    client.key_prefix, client.key_hash = apikeys.split_prefix(plain), apikeys.hash_key(plain)
    client.save()
    return plain if client.active else None
