"""Generates benign_generated.txt: ordinary values people type into forms, search boxes and
profiles, in several languages, from Faker (MIT) with a fixed seed, so the file is reproducible:

    pip install faker==40.63.0 && python3 gen_benign.py > benign_generated.txt

The corpus test sends every line in each place attacks arrive (query, form, JSON, multipart,
header, cookie, path). English sentences are random sequences of common English words, which
puts SQL-, shell- and script-looking words (select, order, drop, table, from, where, set, time,
find, more, ...) next to each other the way prose does.
"""

from faker import Faker

LOCALES = ["en_US", "en_GB", "en_IE", "pt_PT", "pt_BR", "es_ES", "fr_FR", "de_DE", "it_IT", "nl_NL"]


def main() -> None:
    Faker.seed(20261125)
    fakes = [Faker(l) for l in LOCALES]
    en = Faker("en_US")
    out: list[str] = []
    for i in range(150):
        f = fakes[i % len(fakes)]
        out.append(f.name())
    for i in range(80):
        f = fakes[i % len(fakes)]
        out.append(f.address().replace("\n", ", "))
    for i in range(60):
        f = fakes[i % len(fakes)]
        out += [f.email(), f.phone_number()]
    for i in range(40):
        f = fakes[i % len(fakes)]
        out += [f.company(), f.job()]
    for _ in range(250):
        out.append(en.sentence(nb_words=10))
    for _ in range(60):
        out.append(en.paragraph(nb_sentences=3))
    for _ in range(40):
        out += [en.catch_phrase(), en.bs()]
    for _ in range(30):
        out += [en.uri(), en.user_agent(), en.file_name(), en.user_name()]
    for _ in range(40):
        out.append(en.password(length=12))
    for _ in range(20):
        out += [en.date(), en.time(), en.pricetag(), en.color_name(), en.isbn13(), en.iban()]
    seen = set()
    for v in out:
        v = v.strip()
        if v and v not in seen and not v.startswith("# "):
            seen.add(v)
            print(v)


if __name__ == "__main__":
    main()
