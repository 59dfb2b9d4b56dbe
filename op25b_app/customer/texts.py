"""Every sentence of the customer's page, in Japanese and English.

The wording follows the ISP's own announcement (the seed page): what is
blocked, that mail through the ISP's own server keeps working, and the two
remedies, the Submission port 587 with authentication or SMTP over SSL
(465). Sentences are plain text with ``{name}`` placeholders; the renderer
escapes every value it puts in, so nothing here is markup.
"""

from __future__ import annotations

import datetime as dt

from op25b_app.customer.language import ENGLISH, JAPANESE

_JA: dict[str, str] = {
    "site": "{isp}メールサービス サポートセンター",
    "title": "アウトバウンド ポート25 ブロッキング：お客様の回線の状況",
    "nav_label": "言語",
    "h1": "アウトバウンド ポート25 ブロッキング：お客様の回線は対象ですか",
    "address": "お客様の接続元アドレス：",
    "checked": "{time} 時点の状況です。",
    "h_line": "この回線の状況",
    "blocked": "この回線では、ポート25によるメール送信がブロックされています。",
    "blocked_detail": "当社以外の送信用メールサーバへのポート25での送信は、受信者に届きません。",
    "not_yet_dated": "この回線では、ポート25はまだブロックされていません。",
    "not_yet_undated": "この回線では、ポート25はまだブロックされていません。"
                       "開始日は事前にお知らせします。",
    "opt_out_until": "この回線には適用除外が設定されているため、ポート25はブロックされていません"
                     "（適用除外の期限：{time}）。",
    "opt_out_forever": "この回線には適用除外が設定されているため、ポート25はブロックされていません"
                       "（期限なし）。",
    "blocked_from": "{time}から、この回線ではポート25がブロックされます。",
    "not_subject": "この回線の接続種別（ダイヤルアップ接続など）は［Outbound Port25 Blocking］の"
                   "対象外のため、ポート25はブロックされていません。",
    "unknown": "このアドレスからは、お客様の回線を判別できません。",
    "unknown_why": "当社のネットワーク外のアドレス（携帯電話網、VPN、会社のネットワークなど）か、"
                   "このページでは回線を特定できないアドレスです。",
    "unknown_blocked": "当社のブロードバンド接続をご利用の場合、ダイヤルアップ接続と適用除外の回線を"
                       "除き、ポート25はブロックされています。",
    "unknown_dated": "当社のブロードバンド接続をご利用の場合、ダイヤルアップ接続と適用除外の回線を"
                     "除き、{time}からポート25がブロックされます。",
    "unknown_undated": "当社のブロードバンド接続をご利用の場合、ダイヤルアップ接続と適用除外の回線を"
                       "除き、事前にお知らせする開始日からポート25がブロックされます。",
    "unknown_advice": "念のため、以下のとおり設定をご確認ください。",
    "h_change": "メールソフトの設定変更",
    "change_intro": "他プロバイダ、ホスティング会社、お客様の企業、またはお客様自身の送信用メール"
                    "サーバをご利用の場合は、送信（SMTP）サーバの設定を次のいずれかに変更してください。",
    "port587": "Submissionポート（ポート587）とSMTP認証（そのサーバのユーザー名とパスワード）",
    "port465": "ポート465（SMTP over SSL）",
    "ask_admin": "どちらに対応しているかは、ご利用のメールサーバの管理者にご確認ください。",
    "relay_ok": "当社の送信用メールサーバを経由するメール送信は、これまでどおりご利用いただけます。"
                "設定変更は不要です。",
    "relay_named": "当社の送信用メールサーバ（{relay}）を経由するメール送信は、これまでどおり"
                   "ご利用いただけます。設定変更は不要です。",
    "h_why": "ポート25をブロックする理由",
    "why": "ウイルスに感染したパソコンや不正アクセスを受けたパソコンは、プロバイダのメールサーバを"
           "経由せず、ポート25で直接迷惑メールを送信したり、個人情報を含むメールを送信したりする"
           "ことがあります。ポート25をブロックすることで、万一被害にあった場合でも、意図しない"
           "大量メール送信や情報の流出を防ぎます。",
    "footer": "このページには、お客様の接続元アドレスとその回線の状況だけを表示しています。"
              "他のお客様の情報は表示しません。",
    "too_many_title": "しばらくしてからお試しください",
    "too_many": "このアドレスからのアクセスが多すぎます。{seconds}秒ほど待ってから、"
                "もう一度お試しください。",
    "unavailable_title": "ただいま確認できません",
    "unavailable": "ただいま回線の状況を確認できません。しばらくしてから、もう一度お試しください。",
    "not_found_title": "ページが見つかりません",
    "not_found": "お探しのページは見つかりませんでした。",
    "not_allowed_title": "この操作には対応していません",
    "not_allowed": "このページは表示だけに対応しています。",
    "no_address_title": "接続元アドレスを確認できません",
    "no_address": "この接続の送信元アドレスが分からないため、回線の状況を表示できません。",
    "back": "回線の状況を確認する",
}

_EN: dict[str, str] = {
    "site": "{isp} Mail service support",
    "title": "Outbound Port 25 Blocking: your line",
    "nav_label": "Language",
    "h1": "Outbound Port 25 Blocking: is my line affected?",
    "address": "You are connecting from:",
    "checked": "As of {time}.",
    "h_line": "Your line",
    "blocked": "Port 25 is blocked for this line.",
    "blocked_detail": "Mail sent on port 25 to any mail server other than ours does not reach "
                      "the recipient.",
    "not_yet_dated": "Port 25 is not blocked for this line yet.",
    "not_yet_undated": "Port 25 is not blocked for this line yet. We announce the start date "
                       "in advance.",
    "opt_out_until": "Port 25 is not blocked for this line: an opt-out applies until {time}.",
    "opt_out_forever": "Port 25 is not blocked for this line: an opt-out applies "
                       "(no end date).",
    "blocked_from": "From {time}, port 25 will be blocked for this line.",
    "not_subject": "Port 25 is not blocked for this line: its connection type (such as dial-up) "
                   "is not subject to Outbound Port 25 Blocking.",
    "unknown": "We cannot tell from this address which line it is.",
    "unknown_why": "It is an address outside our network (for example a mobile network, a VPN "
                   "or a company network), or one this page cannot match to a line.",
    "unknown_blocked": "If you connect through our broadband service, port 25 is blocked, "
                       "unless your line is dial-up or has an opt-out.",
    "unknown_dated": "If you connect through our broadband service, port 25 will be blocked "
                     "from {time}, unless your line is dial-up or has an opt-out.",
    "unknown_undated": "If you connect through our broadband service, port 25 will be blocked "
                       "from a date we announce in advance, unless your line is dial-up or has "
                       "an opt-out.",
    "unknown_advice": "To be sure, check your mail settings as described below.",
    "h_change": "What to change in your mail program",
    "change_intro": "If you send mail through another provider's, a hosting company's, your "
                    "company's or your own mail server, change its outgoing (SMTP) server "
                    "settings to one of:",
    "port587": "the Submission port 587 with SMTP authentication (your user name and password "
               "for that server), or",
    "port465": "port 465 (SMTP over SSL).",
    "ask_admin": "The administrator of that mail server can tell you which of the two it "
                 "supports.",
    "relay_ok": "Mail sent through our own mail server keeps working as before: you need not "
                "change anything.",
    "relay_named": "Mail sent through our own mail server ({relay}) keeps working as before: "
                   "you need not change anything.",
    "h_why": "Why port 25 is blocked",
    "why": "Viruses and hijacked computers send spam, and mail carrying personal data, "
           "directly on port 25 without going through their provider's mail server. Blocking "
           "port 25 stops unintended mass mailing and data leaks even if a computer is "
           "infected.",
    "footer": "This page shows only the address you are connecting from and the state of that "
              "line. It shows nothing about other customers.",
    "too_many_title": "Please try again later",
    "too_many": "Too many requests from this address. Please wait about {seconds} seconds and "
                "try again.",
    "unavailable_title": "We cannot check right now",
    "unavailable": "We cannot check your line right now. Please try again later.",
    "not_found_title": "Page not found",
    "not_found": "There is no page at this address.",
    "not_allowed_title": "Not allowed",
    "not_allowed": "This page can only be viewed.",
    "no_address_title": "Your address is not known",
    "no_address": "We cannot see the address this request comes from, so we cannot show the "
                  "state of your line.",
    "back": "Check your line",
}

CATALOGUE: dict[str, dict[str, str]] = {JAPANESE: _JA, ENGLISH: _EN}
#: How each language names itself on the switch link.
LANGUAGE_NAMES: dict[str, str] = {JAPANESE: "日本語", ENGLISH: "English"}

_JA_WEEKDAYS = "月火水木金土日"
#: English names spelt out here: strftime's %A/%B follow the process locale.
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def text(lang: str, key: str, **values: str) -> str:
    """The sentence ``key`` in ``lang`` with ``values`` filled in (not yet escaped)."""
    return CATALOGUE[lang][key].format(**values).strip()


def format_time(lang: str, when: dt.datetime, tz: dt.tzinfo) -> str:
    """A point in time as a customer reads it, in the ISP's zone.

    The zone is always named (JST, UTC, or the offset): "from 00:00" alone
    is the ambiguity that makes mail stop a day early.
    """
    local = when.astimezone(tz)
    zone = local.tzname() or ""
    if not zone.isalpha():
        zone = local.strftime("UTC%z")
        zone = f"{zone[:-2]}:{zone[-2:]}"
    if lang == JAPANESE:
        return (f"{local.year}年{local.month}月{local.day}日"
                f"（{_JA_WEEKDAYS[local.weekday()]}）{local:%H:%M} {zone}")
    return (f"{_EN_WEEKDAYS[local.weekday()]} {local.day} {_EN_MONTHS[local.month - 1]} "
            f"{local.year}, {local:%H:%M} {zone}")
