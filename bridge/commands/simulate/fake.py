"""
Realistic fake personal data for simulated ARGOS webhooks: names per
nationality, dates of birth, document numbers, e-mail and IP addresses (from
the documentation ranges of RFC 5737 / RFC 3849), custom fields and the
dashboard's Additional-form answers. Pure: every value comes from the caller's
`random.Random`, so a seed reproduces the same people.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from bridge.types import JSONObject

__all__ = [
    "Person",
    "additional_entry",
    "custom_fields",
    "ip_address",
    "person",
    "uid",
    "uuid4",
]

# nationality -> (first names, last names, e-mail TLD, phone prefix, passport letter)
_PEOPLE: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, str, str]] = {
    "KOR": (("Mina", "Jiho", "Seoyeon", "Minjun", "Hana", "Doyun"),
            ("Park", "Kim", "Lee", "Choi", "Jung", "Kang"), "kr", "+8210", "M"),
    "JPN": (("Yuki", "Haruto", "Aoi", "Sota", "Mei", "Ren"),
            ("Sato", "Suzuki", "Takahashi", "Tanaka", "Ito", "Watanabe"), "jp", "+8190", "T"),
    "FRA": (("Amara", "Léa", "Hugo", "Chloé", "Louis", "Inès"),
            ("Diallo", "Martin", "Bernard", "Dubois", "Lefèvre", "Moreau"), "fr", "+336", "F"),
    "DEU": (("Tom", "Lena", "Jonas", "Mia", "Lukas", "Hannah"),
            ("Becker", "Müller", "Schmidt", "Fischer", "Weber", "Wagner"), "de", "+4915", "C"),
    "NGA": (("Daniel", "Chiamaka", "Emeka", "Ngozi", "Tunde", "Aisha"),
            ("Okafor", "Adeyemi", "Eze", "Balogun", "Nwosu", "Bello"), "ng", "+23480", "A"),
    "ESP": (("Lucía", "Mateo", "Sofía", "Pablo", "Carmen", "Diego"),
            ("Fernández", "García", "López", "Martínez", "Sánchez", "Romero"), "es", "+346", "P"),
    "USA": (("Noah", "Emma", "Liam", "Olivia", "Ethan", "Ava"),
            ("Wright", "Johnson", "Miller", "Davis", "Clark", "Lewis"), "com", "+1415", "5"),
    "SWE": (("Sara", "Erik", "Elsa", "Oskar", "Maja", "Axel"),
            ("Lindqvist", "Andersson", "Nilsson", "Berg", "Holm", "Lund"), "se", "+4670", "9"),
    "VNM": (("Linh", "Minh", "Trang", "Huy", "Thao", "Nam"),
            ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu"), "vn", "+8490", "C"),
    "IND": (("Priya", "Arjun", "Ananya", "Rohan", "Kavya", "Vikram"),
            ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair"), "in", "+9198", "Z"),
}  # fmt: skip

_ID_TYPES = ("passport", "id_card", "drivers_license", "residence_permit")
_STREETS = ("Rue de Rivoli", "Hauptstraße", "Gangnam-daero", "Calle Mayor", "Market Street",
            "Drottninggatan", "Allen Avenue", "MG Road", "Nguyen Hue", "Shibuya-dori")  # fmt: skip
_CITIES = ("Paris", "Berlin", "Seoul", "Madrid", "San Francisco", "Stockholm", "Lagos",
           "Bengaluru", "Ho Chi Minh City", "Tokyo")  # fmt: skip

_CHOICES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Occupation", "text", ("Software engineer", "Nurse", "Teacher", "Self-employed",
                            "Student", "Accountant", "Retired", "Sales manager")),
    ("Source of funds", "select", ("Salary", "Savings", "Business income", "Inheritance",
                                   "Investments", "Pension")),
    ("Purpose of account", "select", ("Investing", "Everyday payments", "Savings",
                                      "International transfers", "Crypto trading")),
    ("Annual income", "select", ("< 25,000 USD", "25,000-50,000 USD", "50,000-100,000 USD",
                                 "> 100,000 USD")),
    ("Expected monthly deposits", "select", ("< 1,000 EUR", "1,000-5,000 EUR", "> 5,000 EUR")),
    ("Are you a politically exposed person?", "radio", ("No", "No", "No", "Yes")),
    ("Do you act on behalf of a third party?", "radio", ("No", "No", "Yes")),
    ("Marketing consent", "checkbox", ("true", "false")),
    ("How did you hear about us?", "select", ("Search engine", "Friend", "Podcast", "Ad")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Person:
    """One applicant, as the fields ARGOS sends about them."""

    first_name: str
    last_name: str
    nationality: str
    gender: str
    date_of_birth: date
    email: str
    phone_number: str
    id_type: str
    document_number: str
    identity_number: str
    issue_date: date
    user_id: str
    token_id: str
    ip_address: str

    @property
    def full_name(self) -> str:
        """Name as printed on the document (family name first for KOR/JPN/VNM)."""
        if self.nationality in {"KOR", "JPN", "VNM"}:
            return f"{self.last_name} {self.first_name}".upper()
        return f"{self.first_name} {self.last_name}"

    @property
    def age_group(self) -> str:
        """ARGOS' coarse age bucket."""
        return "adult" if self.date_of_birth.year <= 2006 else "minor"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def uid(rng: random.Random, prefix: str = "", length: int = 12) -> str:
    """A random identifier of letters and digits, e.g. `tok_Pq7Xs1Lm4Nv9`."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng`."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ip_address(rng: random.Random) -> str:
    """A documentation-range address (mostly IPv4, sometimes IPv6)."""
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randrange(0x10000):x}::{rng.randrange(1, 0x10000):x}"
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randrange(1, 255)}"


def custom_fields(rng: random.Random) -> JSONObject:
    """The `cf` object: a CRM reference and two often-empty campaign fields."""
    return {
        "cf1": f"crm-{rng.randrange(10**6):06d}",
        "cf2": rng.choice(("", "", "campaign-spring25", "referral", "partner-x")),
        "cf3": rng.choice(("", "", "tier-gold", "tier-silver")),
    }


def person(rng: random.Random) -> Person:
    """A consistent applicant: name, nationality, document, contact details."""
    nationality = rng.choice(tuple(_PEOPLE))
    firsts, lasts, tld, phone, letter = _PEOPLE[nationality]
    first, last = rng.choice(firsts), rng.choice(lasts)
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 56))
    issued = date(2016, 1, 1) + timedelta(days=rng.randrange(365 * 9))
    return Person(
        first_name=first,
        last_name=last,
        nationality=nationality,
        gender=rng.choice(("female", "male")),
        date_of_birth=born,
        email=f"{_ascii(first)}.{_ascii(last)}{rng.randrange(100)}@example.{tld}",
        phone_number=f"{phone}{rng.randrange(10**7, 10**8)}",
        id_type=rng.choice(_ID_TYPES),
        document_number=f"{letter}{rng.randrange(10**7, 10**8)}",
        identity_number=f"{born:%y%m%d}-{rng.randrange(1, 5)}******",
        issue_date=issued,
        user_id=f"user-{rng.randrange(10**4, 10**5)}",
        token_id=uid(rng, "tok_"),
        ip_address=ip_address(rng),
    )


def additional_entry(rng: random.Random, index: int) -> JSONObject:
    """One answer of the dashboard's Additional form (`additional_list` item)."""
    draw = rng.random()  # one draw per entry: padding is the generator's hot loop
    if index % 4 == 3:
        street, city = _STREETS[int(draw * 10)], _CITIES[int(draw * 1000) % 10]
        number, postcode = int(draw * 1e5) % 300 + 1, int(draw * 1e10) % 90000 + 10000
        return {
            "answer": "Residential address" if index < 4 else f"Previous address #{index // 4}",
            "inputValue": f"{number} {street}, {postcode} {city}",
            "blockType": "address",
        }
    question, block, values = _CHOICES[index % len(_CHOICES)]
    return {"answer": question, "inputValue": values[int(draw * len(values))], "blockType": block}
