"""The consent texts of 2026-01 in Spanish, Punjabi, Hindi, Haitian Creole and Arabic (issue
18.9), the same words as the English text. MACHINE-DRAFTED: to be checked by a certified
translator, who publishes a corrected wording as a new version (admin: Consent texts), which
then asks everyone who consented in that language to read it again."""

import hashlib
from datetime import UTC, datetime

from django.db import migrations

VERSION = "2026-01"
TEXTS = {
    ("app_use", "es"): (
        "Usar la aplicación ReportIn para presentarse",
        "Puede presentarse con esta aplicación en lugar de hacerlo en persona. Cada vez que se "
        "presenta, la aplicación envía una foto de su cara y su ubicación en ese momento. Su "
        "ubicación no se sigue entre una presentación y otra. Un agente revisa cada presentación. "
        "Usar la aplicación es su decisión: si se niega, o si retira su consentimiento más tarde, "
        "se presentará en persona, y esa decisión no se tendrá en su contra.",
    ),
    ("biometric", "es"): (
        "Uso de su imagen (comparación de la cara)",
        "La foto que toma al presentarse es comparada por una computadora con las fotos de "
        "referencia tomadas cuando se inscribió, para confirmar que es usted. Cuando la "
        "comparación no es clara, un agente mira las fotos; la computadora nunca decide nada en "
        "su contra por sí sola. Las fotos se guardan cifradas y se borran cuando ya no se "
        "necesitan. Puede negarse o retirar este consentimiento; en ese caso se presentará en "
        "persona, sin penalización.",
    ),
    ("app_use", "pa"): (
        "ਹਾਜ਼ਰੀ ਲਈ ReportIn ਐਪ ਦੀ ਵਰਤੋਂ",
        "ਤੁਸੀਂ ਖੁਦ ਜਾ ਕੇ ਹਾਜ਼ਰੀ ਦੇਣ ਦੀ ਥਾਂ ਇਸ ਐਪ ਰਾਹੀਂ ਹਾਜ਼ਰੀ ਦੇ ਸਕਦੇ ਹੋ। ਹਰ ਵਾਰ ਹਾਜ਼ਰੀ ਦੇਣ ਵੇਲੇ, ਐਪ ਤੁਹਾਡੇ "
        "ਚਿਹਰੇ ਦੀ ਫੋਟੋ ਅਤੇ ਉਸ ਵੇਲੇ ਦੀ ਤੁਹਾਡੀ ਥਾਂ ਭੇਜਦੀ ਹੈ। ਦੋ ਹਾਜ਼ਰੀਆਂ ਦੇ ਵਿਚਕਾਰ ਤੁਹਾਡੀ ਥਾਂ ਦਾ ਪਿੱਛਾ ਨਹੀਂ ਕੀਤਾ "
        "ਜਾਂਦਾ। ਹਰ ਹਾਜ਼ਰੀ ਇੱਕ ਅਫ਼ਸਰ ਵੇਖਦਾ ਹੈ। ਐਪ ਵਰਤਣਾ ਤੁਹਾਡੀ ਮਰਜ਼ੀ ਹੈ: ਜੇ ਤੁਸੀਂ ਨਾਂਹ ਕਰਦੇ ਹੋ, ਜਾਂ ਬਾਅਦ ਵਿੱਚ ਸਹਿਮਤੀ "
        "ਵਾਪਸ ਲੈਂਦੇ ਹੋ, ਤਾਂ ਤੁਸੀਂ ਖੁਦ ਜਾ ਕੇ ਹਾਜ਼ਰੀ ਦਿਓਗੇ, ਅਤੇ ਇਹ ਫ਼ੈਸਲਾ ਤੁਹਾਡੇ ਵਿਰੁੱਧ ਨਹੀਂ ਗਿਣਿਆ ਜਾਵੇਗਾ।",
    ),
    ("biometric", "pa"): (
        "ਤੁਹਾਡੀ ਸ਼ਕਲ ਦੀ ਵਰਤੋਂ (ਚਿਹਰੇ ਦਾ ਮਿਲਾਨ)",
        "ਹਾਜ਼ਰੀ ਦੇਣ ਵੇਲੇ ਤੁਸੀਂ ਜੋ ਫੋਟੋ ਲੈਂਦੇ ਹੋ, ਉਸਨੂੰ ਕੰਪਿਊਟਰ ਤੁਹਾਡੇ ਦਾਖ਼ਲੇ ਵੇਲੇ ਲਈਆਂ ਹਵਾਲਾ ਫੋਟੋਆਂ ਨਾਲ ਮਿਲਾਉਂਦਾ "
        "ਹੈ, ਇਹ ਪੱਕਾ ਕਰਨ ਲਈ ਕਿ ਇਹ ਤੁਸੀਂ ਹੀ ਹੋ। ਜਦੋਂ ਮਿਲਾਨ ਸਾਫ਼ ਨਹੀਂ ਹੁੰਦਾ, ਇੱਕ ਅਫ਼ਸਰ ਫੋਟੋਆਂ ਵੇਖਦਾ ਹੈ; ਕੰਪਿਊਟਰ "
        "ਆਪਣੇ ਆਪ ਕਦੇ ਵੀ ਤੁਹਾਡੇ ਵਿਰੁੱਧ ਕੋਈ ਫ਼ੈਸਲਾ ਨਹੀਂ ਕਰਦਾ। ਫੋਟੋਆਂ ਇਨਕ੍ਰਿਪਟ ਕਰਕੇ ਰੱਖੀਆਂ ਜਾਂਦੀਆਂ ਹਨ ਅਤੇ ਲੋੜ ਨਾ "
        "ਰਹਿਣ 'ਤੇ ਮਿਟਾ ਦਿੱਤੀਆਂ ਜਾਂਦੀਆਂ ਹਨ। ਤੁਸੀਂ ਇਹ ਸਹਿਮਤੀ ਦੇਣ ਤੋਂ ਨਾਂਹ ਕਰ ਸਕਦੇ ਹੋ ਜਾਂ ਵਾਪਸ ਲੈ ਸਕਦੇ ਹੋ; ਫਿਰ ਤੁਸੀਂ "
        "ਬਿਨਾਂ ਕਿਸੇ ਸਜ਼ਾ ਦੇ ਖੁਦ ਜਾ ਕੇ ਹਾਜ਼ਰੀ ਦਿਓਗੇ।",
    ),
    ("app_use", "hi"): (
        "हाज़िरी के लिए ReportIn ऐप का उपयोग",
        "आप खुद जाकर हाज़िरी देने के बजाय इस ऐप से हाज़िरी दे सकते हैं। हर बार हाज़िरी देते समय ऐप आपके चेहरे की "
        "फ़ोटो और उस समय आपकी जगह भेजता है। दो हाज़िरियों के बीच आपकी जगह पर नज़र नहीं रखी जाती। हर हाज़िरी को "
        "एक अधिकारी देखता है। ऐप का उपयोग करना आपकी मर्ज़ी है: अगर आप मना करते हैं, या बाद में सहमति वापस लेते हैं, "
        "तो आप खुद जाकर हाज़िरी देंगे, और यह फ़ैसला आपके ख़िलाफ़ नहीं माना जाएगा।",
    ),
    ("biometric", "hi"): (
        "आपकी छवि का उपयोग (चेहरे का मिलान)",
        "हाज़िरी देते समय आप जो फ़ोटो लेते हैं, उसे कंप्यूटर आपके पंजीकरण के समय ली गई संदर्भ फ़ोटो से मिलाता है, "
        "ताकि पक्का हो सके कि वह आप ही हैं। जब मिलान साफ़ नहीं होता, तो एक अधिकारी फ़ोटो देखता है; कंप्यूटर कभी भी "
        "अपने आप आपके ख़िलाफ़ कोई फ़ैसला नहीं करता। फ़ोटो एन्क्रिप्ट करके रखी जाती हैं और ज़रूरत न रहने पर मिटा दी "
        "जाती हैं। आप यह सहमति देने से मना कर सकते हैं या इसे वापस ले सकते हैं; तब आप बिना किसी दंड के खुद जाकर "
        "हाज़िरी देंगे।",
    ),
    ("app_use", "ht"): (
        "Itilize aplikasyon ReportIn pou prezante w",
        "Ou ka prezante w ak aplikasyon sa a olye w ale an pèsòn. Chak fwa w prezante w, "
        "aplikasyon an voye yon foto figi w ak kote w ye nan moman sa a. Yo pa swiv kote w ye "
        "ant de prezantasyon. Yon ofisye gade chak prezantasyon. Itilize aplikasyon an se chwa "
        "pa w: si w refize, oswa si w retire konsantman w pita, w ap prezante w an pèsòn, e yo "
        "p ap kenbe chwa sa a kont ou.",
    ),
    ("biometric", "ht"): (
        "Itilizasyon imaj ou (konparezon figi)",
        "Yon òdinatè konpare foto w pran lè w prezante w ak foto referans yo te pran lè w te "
        "enskri a, pou konfime se ou menm. Lè konparezon an pa klè, yon ofisye gade foto yo; "
        "òdinatè a pa janm deside anyen kont ou poukont li. Yo kenbe foto yo chifre epi yo efase "
        "yo lè yo pa bezwen yo ankò. Ou ka refize oswa retire konsantman sa a; lè sa a w ap "
        "prezante w an pèsòn, san penalite.",
    ),
    ("app_use", "ar"): (
        "استخدام تطبيق ReportIn للإبلاغ عن الحضور",
        "يمكنك الإبلاغ عن حضورك بواسطة هذا التطبيق بدلًا من الحضور شخصيًا. في كل مرة تبلغ فيها، يرسل "
        "التطبيق صورة لوجهك وموقعك في تلك اللحظة. لا يُتتبَّع موقعك بين مرة وأخرى. يراجع موظف كل "
        "إبلاغ. استخدام التطبيق اختيارك: إذا رفضت، أو سحبت موافقتك لاحقًا، فستحضر شخصيًا بدلًا من "
        "ذلك، ولن يُحتسب هذا الاختيار ضدك.",
    ),
    ("biometric", "ar"): (
        "استخدام صورتك (مقارنة الوجه)",
        "يقارن حاسوب الصورة التي تلتقطها عند الإبلاغ بالصور المرجعية التي التُقطت عند تسجيلك، للتأكد "
        "من أنك أنت. عندما لا تكون المقارنة واضحة، ينظر موظف في الصور؛ ولا يقرر الحاسوب أبدًا أي "
        "شيء ضدك من تلقاء نفسه. تُحفظ الصور مشفرة وتُحذف عندما لا تعود هناك حاجة إليها. يمكنك رفض "
        "هذه الموافقة أو سحبها؛ وعندها ستحضر شخصيًا، دون أي عقوبة.",
    ),
}


def forwards(apps, schema_editor):
    ConsentText = apps.get_model("enforcement", "ConsentText")
    published = datetime(2026, 1, 1, tzinfo=UTC)
    for (kind, language), (title, body) in TEXTS.items():
        ConsentText.objects.get_or_create(
            kind=kind, language=language, version=VERSION,
            defaults={"title": title, "body": body, "sha256": hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest(), "published_at": published},
        )


class Migration(migrations.Migration):
    dependencies = [("enforcement", "0020_languages_of_the_largest_groups")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
