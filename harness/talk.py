"""The demo and benchmark talk: English sentences spoken by espeak-ng, with pauses between them.

python -m harness.talk --demo build/demo-talk.wav [--reference build/demo-talk.json]

The reference (for ``translator eval``) holds each sentence's true start and end (espeak-ng's own
leading and trailing silence trimmed), its text, and human translations into es, fr, ca and it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec
import numpy as np
import soundfile

from translator.evaluation.reference import Reference, ReferenceUtterance

SENTENCES = [
    "Good morning everyone, and welcome to the conference.",
    "Please turn off your mobile phones.",
    "The first talk starts at ten o'clock in the main hall.",
    "Lunch will be served in the garden.",
    "Thank you for coming, and enjoy the day.",
    "We have speakers from twelve countries this year.",
    "Questions can be asked at the end of each session.",
    "The coffee break is at eleven thirty.",
]
TRANSLATIONS = {
    "es": [
        "Buenos días a todos, y bienvenidos a la conferencia.",
        "Por favor, apaguen sus teléfonos móviles.",
        "La primera charla empieza a las diez en la sala principal.",
        "El almuerzo se servirá en el jardín.",
        "Gracias por venir, y disfruten del día.",
        "Este año tenemos ponentes de doce países.",
        "Se pueden hacer preguntas al final de cada sesión.",
        "La pausa para el café es a las once y media.",
    ],
    "fr": [
        "Bonjour à tous, et bienvenue à la conférence.",
        "Veuillez éteindre vos téléphones portables.",
        "La première conférence commence à dix heures dans la grande salle.",
        "Le déjeuner sera servi dans le jardin.",
        "Merci d'être venus, et bonne journée.",
        "Cette année, nous avons des intervenants de douze pays.",
        "Les questions pourront être posées à la fin de chaque session.",
        "La pause café est à onze heures et demie.",
    ],
    "ca": [
        "Bon dia a tothom, i benvinguts a la conferència.",
        "Si us plau, apagueu els telèfons mòbils.",
        "La primera xerrada comença a les deu a la sala principal.",
        "El dinar se servirà al jardí.",
        "Gràcies per venir, i gaudiu del dia.",
        "Aquest any tenim ponents de dotze països.",
        "Es poden fer preguntes al final de cada sessió.",
        "La pausa del cafè és a dos quarts de dotze.",
    ],
    "it": [
        "Buongiorno a tutti e benvenuti alla conferenza.",
        "Per favore, spegnete i vostri telefoni cellulari.",
        "Il primo intervento inizia alle dieci nella sala principale.",
        "Il pranzo sarà servito in giardino.",
        "Grazie per essere venuti, e buona giornata.",
        "Quest'anno abbiamo relatori da dodici paesi.",
        "Le domande si possono fare alla fine di ogni sessione.",
        "La pausa caffè è alle undici e mezza.",
    ],
    "pt": [
        "Bom dia a todos, e bem-vindos à conferência.",
        "Por favor, desliguem os vossos telemóveis.",
        "A primeira palestra começa às dez horas na sala principal.",
        "O almoço será servido no jardim.",
        "Obrigado por terem vindo, e aproveitem o dia.",
        "Este ano temos oradores de doze países.",
        "As perguntas podem ser feitas no final de cada sessão.",
        "O intervalo para café é às onze e meia.",
    ],
}
GAP_S = 1.0
# espeak-ng pads its speech with near-silence; below this level a sample is not speech.
SPEECH_LEVEL = 64


def write_talk(
    path: Path, sentences: list[str] = SENTENCES, gap_s: float = GAP_S, voices: list[str] | None = None
) -> Reference:
    """Speak ``sentences`` into one WAV at ``path`` (22.05 kHz mono), ``gap_s`` of silence around each;
    each in its own espeak-ng voice from ``voices`` (default: all ``en-us``).

    Returns the reference: each sentence's true start and end, and its text.
    """
    parts: list[np.ndarray] = []
    utterances: list[ReferenceUtterance] = []
    rate, at = 22_050, 0
    with tempfile.TemporaryDirectory() as tmp:
        for index, sentence in enumerate(sentences):
            piece = Path(tmp) / f"{index}.wav"
            voice = voices[index] if voices else "en-us"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(piece), sentence], check=True)
            samples, rate = soundfile.read(str(piece), dtype="int16")
            at += int(rate * gap_s)
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SPEECH_LEVEL)
            start, end = (at + int(loud[0])) / rate, (at + int(loud[-1]) + 1) / rate
            utterances.append(ReferenceUtterance(round(start, 3), round(end, 3), sentence))
            parts += [np.zeros(int(rate * gap_s), dtype="int16"), samples]
            at += len(samples)
    parts.append(np.zeros(int(rate * gap_s), dtype="int16"))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.concatenate(parts), rate, subtype="PCM_16")
    return Reference(utterances)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", type=Path, required=True, help="where to write the WAV")
    parser.add_argument("--reference", type=Path, help="where to write its reference (JSON)")
    args = parser.parse_args()
    reference = write_talk(args.demo)
    for index, utterance in enumerate(reference.utterances):
        utterance.translations = {lang: texts[index] for lang, texts in TRANSLATIONS.items()}
    if args.reference:
        args.reference.write_bytes(msgspec.json.format(msgspec.json.encode(reference)))
    print(f"wrote {args.demo} ({len(SENTENCES)} sentences)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
