"""Sample data for the demo tenant (`callboard serve --demo`).

Realistic Vietnamese records for the water-utility bundle in config/: customers across
Ho Chi Minh City's districts (a few of them VIPs), companies with their contacts, tickets
of every type, notes, contracts and orders. Everything is written through the record
service, so validation, key tables and the activity log are exactly as for real data.

The data is deterministic (a fixed random seed and a fixed reference day, unless one is
given), and seeding is idempotent: a tenant that already has customers is left alone.
Values are fitted to the tenant's model, so a changed ./config or another template still
gets what fits: unknown fields are dropped, unknown options replaced, and records that
still do not validate are skipped and reported, not fatal.
"""
from __future__ import annotations

import random
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from . import expressions as ex
from .access import Actor
from .errors import ServiceError
from .model import Field
from .queries import Query
from .records import RecordService
from .tenancy import Tenant

SEED = 20260115

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MALE = (["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Công"],
        ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc",
         "Quân", "Sơn", "Tài", "Tuấn", "Việt", "Khánh"])
FEMALE = (["Thị", "Ngọc", "Thu", "Kim", "Mỹ", "Thanh", "Bảo"],
          ["Anh", "Bích", "Chi", "Dung", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
           "Mai", "Ngân", "Nhung", "Phương", "Thảo", "Trang", "Vy", "Yến"])
STREETS = ["Nguyễn Huệ", "Lê Lợi", "Hai Bà Trưng", "Điện Biên Phủ", "Cách Mạng Tháng Tám",
           "Nguyễn Thị Minh Khai", "Võ Văn Tần", "Lý Thường Kiệt", "Phan Xích Long",
           "Quang Trung", "Nguyễn Văn Linh", "Trường Chinh", "Lê Văn Sỹ", "Hoàng Văn Thụ",
           "Xô Viết Nghệ Tĩnh", "Phạm Văn Đồng", "Kinh Dương Vương", "Âu Cơ",
           "Nguyễn Trãi", "Trần Hưng Đạo"]
MOBILE_PREFIXES = ["090", "091", "093", "094", "096", "097", "098", "086", "088", "070",
                   "077", "079", "083", "084", "085"]
MAIL_HOSTS = ["gmail.com", "yahoo.com.vn", "outlook.com"]

COMPANIES = [
    {"name": "Công ty TNHH Thực phẩm Sài Gòn Xanh", "tax_code": "0312456789",
     "industry": "manufacturing", "representative": "Trần Minh Quân",
     "phone": "02837541234", "email": "ketoan@saigonxanh.vn",
     "address": "Lô C12, KCN Tân Tạo, Quận Bình Tân, TP. Hồ Chí Minh",
     "website": "https://saigonxanh.vn"},
    {"name": "Khách sạn Bến Thành Riverside", "tax_code": "0304567812",
     "industry": "hospitality", "representative": "Lê Thị Thu Hà",
     "phone": "02838223456", "email": "engineering@benthanhriverside.vn",
     "address": "25 Tôn Đức Thắng, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
     "website": "https://benthanhriverside.vn"},
    {"name": "Ban quản trị Chung cư Phú Hoàng Anh", "tax_code": "0313998877",
     "industry": "real_estate", "representative": "Phạm Văn Tài",
     "phone": "02837756789", "email": "bqt@phuhoanganh.vn",
     "address": "9 Nguyễn Hữu Thọ, Xã Phước Kiển, Huyện Nhà Bè, TP. Hồ Chí Minh"},
    {"name": "Trường THPT Nguyễn Thị Minh Khai", "tax_code": "0301234560",
     "industry": "education_health", "representative": "Nguyễn Thị Bích",
     "phone": "02839304567", "email": "vanphong@thpt-ntmk.edu.vn",
     "address": "275 Điện Biên Phủ, Phường Võ Thị Sáu, Quận 3, TP. Hồ Chí Minh"},
]
# Customers (water accounts) of the companies above: (company index, customer name,
# district, usage purpose).
BUSINESS_ACCOUNTS = [
    (0, "Công ty TNHH Thực phẩm Sài Gòn Xanh - Nhà máy Tân Tạo", "binh_tan", "production"),
    (1, "Khách sạn Bến Thành Riverside", "quan_1", "commercial"),
    (2, "Chung cư Phú Hoàng Anh - Block A", "nha_be", "domestic"),
    (2, "Chung cư Phú Hoàng Anh - Block B", "nha_be", "domestic"),
    (3, "Trường THPT Nguyễn Thị Minh Khai", "quan_3", "administrative"),
]
CONTACTS = [  # (business account index, name, position, is_primary)
    (0, "Võ Thị Ngọc Lan", "Kế toán trưởng", True),
    (0, "Đặng Hữu Phúc", "Trưởng ca vận hành", False),
    (1, "Huỳnh Quốc Việt", "Trưởng bộ phận kỹ thuật", True),
    (2, "Bùi Thanh Sơn", "Trưởng ban quản lý tòa nhà", True),
    (4, "Ngô Thị Mai", "Văn phòng nhà trường", True),
]

TICKETS: list[dict[str, Any]] = [
    {"type": "complaint", "subject": "Nước yếu vào giờ cao điểm buổi tối",
     "description": "Từ 18h đến 21h nước chảy rất yếu, không lên được bồn trên lầu 2.",
     "product": "water", "category": "low_pressure", "severity": "normal",
     "priority": "normal"},
    {"type": "complaint", "subject": "Hóa đơn tháng này tăng gấp đôi bất thường",
     "description": "Chỉ số tháng trước 23 m³, tháng này 51 m³ dù gia đình không thay đổi "
                    "sinh hoạt. Đề nghị kiểm tra lại đồng hồ.",
     "product": "water", "category": "billing", "severity": "normal", "priority": "high"},
    {"type": "complaint", "subject": "Nước có mùi clo nặng và hơi đục",
     "description": "Nước máy sáng nay có màu vàng đục, mùi clo nồng.",
     "product": "water", "category": "water_quality", "severity": "high",
     "priority": "high"},
    {"type": "complaint", "subject": "Mất nước từ sáng không có thông báo",
     "description": "Cả hẻm mất nước từ 6h sáng, chưa nhận được thông báo cúp nước.",
     "product": "water", "category": "no_water", "severity": "high", "priority": "urgent"},
    {"type": "inquiry", "subject": "Hỏi lịch cúp nước tuần sau",
     "description": "Khách hỏi lịch ngưng cung cấp nước để súc xả đường ống.",
     "topic": "water_cut", "priority": "low"},
    {"type": "inquiry", "subject": "Thủ tục sang tên hợp đồng cấp nước",
     "description": "Khách mới mua nhà, muốn chuyển tên chủ hộ trên hợp đồng.",
     "topic": "contract_change", "priority": "normal"},
    {"type": "inquiry", "subject": "Hỏi giá nước sinh hoạt theo định mức mới",
     "description": "Khách cần tư vấn cách tính tiền nước theo số nhân khẩu.",
     "topic": "tariff", "callback": True, "priority": "normal"},
    {"type": "leak_report", "subject": "Bể ống cái trước nhà, nước tràn ra đường",
     "description": "Ống cái bể, nước phun mạnh, đoạn đường đang ngập.",
     "leak_side": "main", "leak_size": "flooding", "water_cut": True,
     "affected_households": 40, "priority": "urgent"},
    {"type": "leak_report", "subject": "Rò rỉ nước tại đồng hồ",
     "description": "Nước rỉ quanh khớp nối đồng hồ nước, sàn luôn ẩm ướt.",
     "leak_side": "meter", "leak_size": "seep", "priority": "normal"},
    {"type": "suggestion", "subject": "Đề nghị thêm thanh toán qua ví ZaloPay",
     "description": "Khách mong công ty hỗ trợ thanh toán tiền nước qua ZaloPay.",
     "category": "digital", "wants_reply": True, "priority": "low"},
    {"type": "suggestion", "subject": "Khen đội sửa chữa xử lý nhanh",
     "description": "Đội sửa chữa đến trong 30 phút và làm việc rất nhiệt tình.",
     "category": "staff", "wants_reply": False, "priority": "low"},
]
CUSTOMER_NOTES = [
    "Khách hẹn gọi lại sau 17h, giờ hành chính thường không nghe máy.",
    "Đã hướng dẫn khách đăng ký nhận hóa đơn điện tử qua Zalo OA.",
    "Khách là hộ kinh doanh nhỏ tại nhà, đề nghị xem lại mục đích sử dụng nước.",
    "Nhà có người lớn tuổi, ưu tiên cử nhân viên đến tận nơi khi cần.",
    "Khách phản ánh nhân viên ghi chỉ số đến không đúng lịch.",
]
TICKET_NOTES = [
    "Đã liên hệ đội quản lý mạng lưới khu vực, chờ phản hồi.",
    "Gọi lại cho khách lúc 14h30, khách xác nhận tình trạng vẫn còn.",
    "Chuyển thông tin cho tổ ghi thu kiểm tra chỉ số đồng hồ.",
]


def seed_demo(engine: Engine, tenant: Tenant, actor: Actor, *,
              owners: Sequence[int] = (), today: date | None = None,
              customers: int = 30, service: RecordService | None = None) -> dict[str, Any]:
    """Create the demo's sample records in `tenant`, in one transaction.

    `owners` (user ids of the tenant's members, agents first) own some customers and
    are assigned some tickets, in turn; the rest stay in the shared pool. Returns
    `{"skipped": bool, "created": {entity: count}, "failed": [message, ...]}`; `skipped`
    is true (and nothing is written) when the tenant already has customers. Pass the
    platform's `service` (with its ticket hooks) to get SLA due dates on the tickets.
    """
    service = service or RecordService(engine, tenant)
    if service.list(actor, "customer", Query(per_page=1)).total > 0:
        return {"skipped": True, "created": {}, "failed": []}
    seeder = _Seeder(service, actor, list(owners), today or date(2026, 1, 15))
    with service.transaction() as conn:
        seeder.run(conn, customers)
    return {"skipped": False, "created": dict(seeder.created), "failed": seeder.failed}


class _Seeder:
    def __init__(self, service: RecordService, actor: Actor, owners: list[int], today: date):
        self.service = service
        self.model = service.model
        self.actor = actor
        self.owners = owners
        self.today = today
        self.rng = random.Random(SEED)
        self.created: dict[str, int] = {}
        self.failed: list[str] = []
        self.conn: Connection | None = None
        self._used: set[tuple[str, str]] = {("phone", "0901234567")}

    # -- the data ----------------------------------------------------------------------
    def run(self, conn: Connection, count: int) -> None:
        self.conn = conn
        companies = [self.create("company", dict(c)) for c in COMPANIES]
        business = []
        for company, name, district, purpose in BUSINESS_ACCOUNTS:
            values = self._business_customer(COMPANIES[company], name, district, purpose)
            if companies[company]:
                values["company"] = companies[company]["id"]
            business.append(self.create("customer", values))
        people = [self.create("customer", self._person(i))
                  for i in range(max(0, count - len(business)))]
        customers = [c for c in people + business if c]
        contacts = []
        for account, name, position, primary in CONTACTS:
            if business[account] is None:
                continue
            contacts.append(self.create("contact", {
                "name": name, "position": position, "is_primary": primary,
                "phone": self._mobile(), "email": _email(name, "ketoan.vn"),
                "customer": business[account]["id"]}))
        tickets = self._tickets(customers, business, contacts)
        self._notes(customers, tickets)
        self._contracts(customers, business)
        self._orders(customers)
        self._knowledge()

    def _person(self, i: int) -> dict[str, Any]:
        rng = self.rng
        male = rng.random() < 0.5
        middles, givens = MALE if male else FEMALE
        name = f"{rng.choice(SURNAMES)} {rng.choice(middles)} {rng.choice(givens)}"
        district = self._option("customer", "district")
        vip = i < 4                       # the first few are the VIPs of the demo
        values: dict[str, Any] = {
            "name": name,
            # The first customer has the number of the contract's examples, for screen pop.
            "phone": "0901234567" if i == 0 else self._mobile(),
            "customer_type": "residential",
            "usage_purpose": "domestic" if rng.random() < 0.85 else "commercial",
            "household_members": rng.randint(1, 7),
            "address": f"{rng.randint(1, 450)} {rng.choice(STREETS)}",
            "ward": f"Phường {rng.randint(1, 15)}",
            "district": district,
            "account_no": self._unique("acc", lambda: f"{rng.randint(10**10, 10**11 - 1)}"),
            "meter_no": self._unique("meter", lambda: (
                rng.choice(["IT", "SE", "AC", "ZN"]) + f"{rng.randint(10**7, 10**8 - 1)}")),
            "contract_no": f"HD{self.today.year - rng.randint(0, 15)}-{10000 + i:05d}",
            "id_card": f"079{rng.choice('0123')}{rng.randint(0, 99):02d}"
                       f"{rng.randint(0, 999999):06d}",
            "payment_method": self._option("customer", "payment_method"),
            "priority": rng.choice([4, 5]) if vip else 1,
            "source": rng.choice(["manual"] * 4 + ["call", "call", "import", "zalo", "web"]),
        }
        if rng.random() < 0.4:
            values["email"] = _email(name, rng.choice(MAIL_HOSTS), rng.randint(1, 99))
        if rng.random() < 0.2:
            values["phone2"] = self._mobile()
        if self.owners and i % 3:
            values["owner"] = self.owners[i % len(self.owners)]
        return values

    def _business_customer(self, company: Mapping[str, Any], name: str, district: str,
                           purpose: str) -> dict[str, Any]:
        rng = self.rng
        return {
            "name": name, "phone": self._mobile(), "customer_type": "business",
            "usage_purpose": purpose, "tax_code": company["tax_code"],
            "e_invoice_email": company["email"], "email": company["email"],
            "address": company["address"].split(",")[0], "district": district,
            "account_no": self._unique("acc", lambda: f"{rng.randint(10**10, 10**11 - 1)}"),
            "meter_no": self._unique("meter", lambda: f"DN{rng.randint(10**7, 10**8 - 1)}"),
            "payment_method": "bank_transfer", "priority": 4 if purpose == "commercial" else 1,
            "source": "manual",
        }

    def _tickets(self, customers: list[dict], business: list[dict | None],
                 contacts: list[dict | None]) -> list[dict]:
        out = []
        for i, spec in enumerate(TICKETS):
            values = dict(spec)
            customer = customers[(i * 7) % len(customers)] if customers else None
            if customer:
                values["customer"] = customer["id"]
                if spec["type"] == "leak_report":
                    values["location"] = f"Trước nhà {customer.get('address', '')}".strip()
                    values["district"] = customer.get("district")
            if i == 1 and business[0] and contacts and contacts[0]:
                values["customer"], values["contact"] = business[0]["id"], contacts[0]["id"]
            if spec.get("callback"):
                at = datetime.combine(self.today + timedelta(days=1), time(9, 30),
                                      ZoneInfo(self.model.settings.timezone or "UTC"))
                values["callback_at"] = at.isoformat()
            if self.owners and i % 2 == 0:
                values["assignee"] = self.owners[i // 2 % len(self.owners)]
            record = self.create("ticket", values)
            if record:
                out.append(record)
        return out

    def _notes(self, customers: list[dict], tickets: list[dict]) -> None:
        for i, body in enumerate(CUSTOMER_NOTES):
            if customers:
                target = customers[(i * 5 + 1) % len(customers)]
                self.create("note", {"body": body,
                                     "record": {"entity": "customer", "id": target["id"]}})
        for i, body in enumerate(TICKET_NOTES):
            if tickets:
                target = tickets[i % len(tickets)]
                self.create("note", {"body": body,
                                     "record": {"entity": "ticket", "id": target["id"]}})

    def _contracts(self, customers: list[dict], business: list[dict | None]) -> None:
        if not customers:
            return
        year = self.today.year
        first = business[0] or customers[0]
        person = customers[0]
        self.create("contract", {
            "code": f"HD-{year - 3}-0001", "name": "Hợp đồng dịch vụ cấp nước - Nhà máy",
            "customer": first["id"], "contract_type": "water_supply", "cycle": "monthly",
            "status": "active", "signed_date": f"{year - 3}-03-02",
            "start_date": f"{year - 3}-03-15", "value": 0, "auto_renew": True,
            "customer_signer": "Trần Minh Quân"})
        self.create("contract", {
            "code": f"HD-{year}-0042", "name": "Hợp đồng gắn mới đồng hồ nước DN15",
            "customer": person["id"], "contract_type": "new_connection",
            "cycle": "one_time", "status": "active",
            "signed_date": (self.today - timedelta(days=20)).isoformat(),
            "start_date": (self.today - timedelta(days=18)).isoformat(),
            "acceptance_date": (self.today - timedelta(days=5)).isoformat(),
            "value": 2_950_000, "customer_signer": person.get("name")})
        self.create("contract", {
            "code": f"HD-{year}-0043", "name": "Hợp đồng di dời đồng hồ nước",
            "customer": customers[-1]["id"], "contract_type": "meter_relocation",
            "cycle": "one_time", "status": "draft", "value": 1_200_000})

    def _orders(self, customers: list[dict]) -> None:
        if not customers:
            return
        orders = [
            ("Gắn mới đồng hồ nước DN15", customers[0], "confirmed", 10, [
                ("Đồng hồ nước DN15 cấp B", 1, 1_850_000),
                ("Ống HDPE D25 (mét)", 6, 45_000),
                ("Van khóa đồng hồ DN15", 1, 180_000),
                ("Nhân công lắp đặt", 1, 500_000)]),
            ("Thay ống nhánh sau đồng hồ", customers[min(2, len(customers) - 1)],
             "completed", 40, [
                ("Ống PPR D20 (mét)", 12, 38_000),
                ("Co nối, băng keo non", 1, 95_000),
                ("Nhân công sửa chữa", 1, 350_000)]),
        ]
        for title, customer, status, days_ago, lines in orders:
            self.create("order", {
                "title": title, "customer": customer["id"], "status": status,
                "order_date": (self.today - timedelta(days=days_ago)).isoformat(),
                "lines": [{"product": p, "qty": q, "price": c} for p, q, c in lines],
                "total": sum(q * c for _, q, c in lines)})

    def _knowledge(self) -> None:
        """A small knowledge base: categories, published answers agents can search while
        they talk (in Vietnamese, English and Chinese), and one draft still in review."""
        billing = self.create("kb_category", {"name": "Hóa đơn & thanh toán"})
        service = self.create("kb_category", {"name": "Dịch vụ cấp nước"})
        refunds = self.create("kb_category", {
            "name": "Hoàn tiền", "parent": billing["id"] if billing else None})
        articles = [
            (billing, "Cách tra cứu hóa đơn tiền nước hằng tháng",
             "hóa đơn, tra cứu, danh bộ",
             "<p>Khách hàng đọc <b>mã danh bộ</b> in trên hóa đơn; điện thoại viên tra cứu "
             "số tiền, kỳ hóa đơn và hạn thanh toán trên màn hình khách hàng.</p>", True),
            (refunds, "Hoàn tiền khi thanh toán trùng hóa đơn", "hoàn tiền, thanh toán trùng",
             "<p>Ghi phiếu khiếu nại loại <i>Hóa đơn</i>, chuyển phòng Kế toán; tiền được "
             "hoàn trong 5 ngày làm việc.</p>", True),
            (service, "Báo sự cố mất nước, rò rỉ đường ống", "mất nước, rò rỉ, sự cố",
             "<p>Hỏi địa chỉ, thời điểm mất nước; tạo phiếu Sự cố và chuyển phòng Kỹ "
             "thuật. Rò rỉ lớn: ưu tiên khẩn.</p>", True),
            (refunds, "如何申请退款 (refund requests from Chinese-speaking customers)",
             "退款, refund", "<p>客户重复缴费时，请登记投诉工单并转财务部门处理。</p>", True),
            (service, "Change of meter owner (draft)", "meter, transfer, owner",
             "<p>Steps to move a water contract to a new owner: ID card, sale contract, "
             "final meter reading.</p>", False),
        ]
        for category, title, keywords, body, published in articles:
            article = self.create("kb_article", {
                "title": title, "keywords": keywords, "body": body,
                "category": category["id"] if category else None})
            if article and published:
                self.service.update(self.actor, "kb_article", article["id"],
                                    {"status": "published"}, action="publish",
                                    allow={"status"}, conn=self.conn)

    # -- helpers -----------------------------------------------------------------------
    def create(self, entity: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """Create one record fitted to the model; None (and a note) when it fails."""
        if entity not in self.model.entities:
            return None
        if entity == "ticket" and values.get("type") not in self.model.ticket_types:
            return None
        fields = self.service.fields_for(self.model.entities[entity], values)
        data = self._fit(fields, values)
        try:
            record = self.service.create(self.actor, entity, data, conn=self.conn)
        except ServiceError as e:
            self.failed.append(f"{entity} {values.get('name') or values.get('subject') or ''}"
                               f": {e.message}".strip())
            return None
        self.created[entity] = self.created.get(entity, 0) + 1
        return record

    def _fit(self, fields: Mapping[str, Field], values: Mapping[str, Any]) -> dict[str, Any]:
        """Drop what the model lacks, replace unknown options, fill required gaps."""
        data = {}
        for key, value in values.items():
            field = fields.get(key)
            if key == "owner":
                data[key] = value
            if field is None or value is None:
                continue
            if field.readonly and not self.actor.is_system:
                continue
            if field.type == "select" and field.options and value not in field.option_values:
                value = self.rng.choice(field.option_values)
            data[key] = value
        for field in fields.values():
            if data.get(field.name) not in (None, "", []) or field.default is not None:
                continue
            needed = field.required or (field.required_if is not None and bool(
                _evaluate(field.required_if, data)))
            if needed:
                filler = self._filler(field)
                if filler is not None:
                    data[field.name] = filler
        return data

    def _filler(self, field: Field) -> Any:
        kind = field.type
        if kind in ("select", "multiselect") and field.options:
            value = self.rng.choice(field.option_values)
            return [value] if kind == "multiselect" else value
        if kind in ("text", "longtext"):
            return "Dữ liệu mẫu" if not field.pattern else None
        if kind in ("integer", "decimal", "rating"):
            return field.min if field.min is not None else 1
        if kind == "date":
            return self.today.isoformat()
        if kind == "datetime":
            return f"{self.today.isoformat()}T09:00:00Z"
        if kind == "boolean":
            return False
        if kind == "phone":
            return self._mobile()
        return None

    def _option(self, entity: str, field: str) -> str | None:
        ent = self.model.entities.get(entity)
        f = ent.field_map.get(field) if ent else None
        return self.rng.choice(f.option_values) if f is not None and f.options else None

    def _mobile(self) -> str:
        return self._unique("phone", lambda: self.rng.choice(MOBILE_PREFIXES)
                            + f"{self.rng.randint(0, 9_999_999):07d}")

    def _unique(self, kind: str, make: Any) -> str:
        while True:
            value = make()
            if (kind, value) not in self._used:
                self._used.add((kind, value))
                return value


def _evaluate(expr: Any, data: Mapping[str, Any]) -> Any:
    try:
        return ex.evaluate(expr, dict(data))
    except Exception:  # a guard we cannot evaluate is not "required"
        return False


def _email(name: str, host: str, n: int | None = None) -> str:
    """nguyen.van.an@host from a Vietnamese name (diacritics and đ folded)."""
    folded = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    local = ".".join(ascii_name.split())
    return f"{local}{n or ''}@{host}"
