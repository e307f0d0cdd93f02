#!/usr/bin/env python3
"""Task metric for paraphrase-MiniLM-L3-v2: paraphrase retrieval top-1.

    .venv/bin/python benches/metrics/minilm_retrieval.py MODEL.onnx      # prints retrieval_top1 <v> last
    .venv/bin/python benches/metrics/minilm_retrieval.py --write-calibration OUT.npz

PAIRS below are 64 pairs of short English sentences written for this bench, each pair saying the
same thing in other words, grouped by topic so that every sentence has several near misses on the
same subject among the candidates (hard negatives), plus 36 DISTRACTORS: sentences that share most
words with one of the pairs but mean something else ("Our team lost the football match."). Each
of the 128 paired sentences is a query; the candidates are the other 163 sentences. A query counts
as a hit when its paraphrase is its nearest neighbour by cosine similarity of the sentence
embeddings. retrieval_top1 = hits / 128 (each query is 0.78 points).

Embedding: the model's token embeddings (output `onnx::Shape_422`, [1,16,384]) mean-pooled over the
tokens the attention mask keeps, as sentence-transformers does (the model's own pooled output
`461` is the same up to float rounding; pooling here keeps the metric independent of how a
quantizer treats that tail). Inputs: input_ids / attention_mask int64 [1,16], tokenized by
bert_wordpiece.py ([CLS] ... [SEP], padded; every sentence here fits in 16 pieces, checked).
Runs in ONNX Runtime on the CPU, 2 intra-op threads, one sentence at a time.

CALIBRATION is a different set of 64 sentences (none of them in PAIRS) for `--auto`'s calibration
data: `--write-calibration` saves them as input_ids / attention_mask [64,16] int64 (sample axis
first, the model's batch axis of 1 dropped, as the quantizer reads arrays).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bert_wordpiece as bw  # noqa: E402

LENGTH = 16

PAIRS = [
    # weather
    ("It is raining heavily outside today.", "There is a lot of rain falling right now."),
    ("The sun is shining and it is warm.", "It is a hot and sunny day."),
    ("Snow covered the streets overnight.", "By morning the roads were white with snow."),
    ("A strong wind knocked down the old tree.", "The old tree was blown over by a gale."),
    ("The forecast says it will be cold tomorrow.", "Tomorrow is expected to be chilly."),
    # cooking and food
    ("She baked a chocolate cake for the party.", "For the party, she made a chocolate cake."),
    ("Boil the pasta for ten minutes.", "Cook the noodles in boiling water for ten minutes."),
    ("This soup needs more salt.", "The soup is not salty enough."),
    ("He cut the onions into small pieces.", "He chopped the onions finely."),
    ("We ordered pizza for dinner.", "We had pizza delivered for our evening meal."),
    ("The coffee is too hot to drink.", "The coffee is still too hot to sip."),
    # travel
    ("The train to London leaves at noon.", "At midday the London train departs."),
    ("Our flight was delayed by two hours.", "The plane took off two hours late."),
    ("I lost my passport at the airport.", "My passport went missing at the airport."),
    ("They rented a car to drive along the coast.", "They hired a car for a coastal road trip."),
    ("The hotel room had a view of the sea.", "From our hotel room we could see the ocean."),
    ("The bus was full so we walked.", "We went on foot because the bus was crowded."),
    # work and office
    ("The meeting has been moved to Friday.", "The meeting is now on Friday."),
    ("Please send me the report by tonight.", "I need the report from you this evening."),
    ("She was promoted to team manager.", "She got a promotion and now leads the team."),
    ("The printer is out of paper again.", "There is no paper left in the printer."),
    ("He works from home on Mondays.", "On Mondays he does his job from his house."),
    ("The company hired twenty new engineers.", "Twenty engineers joined the firm."),
    # computers
    ("My laptop battery dies very quickly.", "The battery of my notebook drains fast."),
    ("Restart the computer to install the update.", "The update installs after a reboot."),
    ("I forgot my email password.", "I cannot remember the password for my mail."),
    ("The website is loading very slowly.", "The web page takes ages to open."),
    ("Save your work before closing the program.", "Store your file before you quit the app."),
    ("The phone screen cracked when I dropped it.", "I dropped my phone and broke its screen."),
    # animals
    ("The dog is barking at the mailman.", "The dog barks at the postman."),
    ("A cat is sleeping on the sofa.", "There is a cat asleep on the couch."),
    ("Birds sing early in the morning.", "At dawn the birds start singing."),
    ("The horse jumped over the fence.", "The fence was cleared by the horse in one leap."),
    ("Fish swim in the clear lake.", "The clear lake is full of swimming fish."),
    # sport
    ("Our team won the football match.", "We won the soccer game."),
    ("He runs five kilometres every morning.", "Every morning he goes for a five kilometre run."),
    ("The tennis final was cancelled because of rain.", "Rain stopped the tennis final from being played."),
    ("She swims in the pool twice a week.", "Twice a week she goes swimming at the pool."),
    ("The player scored in the last minute.", "A goal was scored just before the end."),
    # health
    ("I have a bad headache.", "My head hurts a lot."),
    ("The doctor told him to rest for a week.", "He was advised by the doctor to take a week off."),
    ("She caught a cold last weekend.", "Last weekend she fell ill with a cold."),
    ("Drinking water is good for your health.", "Water is healthy to drink."),
    ("He broke his arm while skiing.", "He fractured his arm on the ski slope."),
    # shopping and money
    ("These shoes are too expensive.", "The shoes cost too much."),
    ("The shop closes at six in the evening.", "The store shuts at six pm."),
    ("I paid for the groceries by card.", "I used my card to pay for the food shopping."),
    ("Prices have gone up this year.", "Things cost more this year."),
    ("He saves money every month.", "Each month he puts some money aside."),
    # home
    ("The kitchen sink is leaking.", "Water is dripping from under the kitchen sink."),
    ("We painted the bedroom walls blue.", "The bedroom walls are now painted blue."),
    ("Turn off the lights when you leave.", "Switch the lights off as you go out."),
    ("The neighbours are having a loud party.", "There is a noisy party next door."),
    ("The heating does not work in winter.", "In winter the heater is broken."),
    # school and books
    ("The students passed the exam.", "The pupils did well in the test."),
    ("She is reading a novel about the war.", "She reads a book set during the war."),
    ("The library is closed on Sundays.", "On Sunday the library does not open."),
    ("He is learning to speak Spanish.", "He is studying the Spanish language."),
    ("The teacher explained the lesson again.", "The lesson was explained a second time by the teacher."),
    # people and feelings
    ("She was very happy with the gift.", "The present made her really glad."),
    ("He is afraid of the dark.", "Darkness frightens him."),
    ("They got married last summer.", "Last summer they had their wedding."),
    ("My brother lives in another city.", "My brother lives in a different town."),
    ("The baby is crying loudly.", "The infant is wailing."),
]

# Candidates that are no one's paraphrase: near misses that share words with a pair but say
# something else (a query whose nearest neighbour is one of these misses).
DISTRACTORS = [
    "It is not raining outside today.", "The sun is shining but it is cold.",
    "Snow melted on the streets overnight.", "A strong wind knocked over the new fence.",
    "The forecast says it will be warm tomorrow.", "She bought a chocolate cake for the party.",
    "Boil the eggs for ten minutes.", "This soup needs more pepper.",
    "He cut the bread into thick slices.", "We ordered pizza for lunch at work.",
    "The train from London arrives at noon.", "Our flight was cancelled this morning.",
    "I found my passport at the airport.", "The hotel room had a view of the car park.",
    "The meeting on Friday has been cancelled.", "Please send me the invoice by tonight.",
    "She was fired from her job as manager.", "The printer is printing too slowly.",
    "My laptop screen is very bright.", "I forgot to send the email.",
    "The dog is sleeping on the sofa.", "A cat is barking at the mailman.",
    "Our team lost the football match.", "He walks five kilometres every evening.",
    "I have a bad toothache.", "The doctor told him to exercise every day.",
    "These shoes are very cheap.", "The shop opens at six in the morning.",
    "The bathroom sink is blocked.", "We painted the kitchen walls green.",
    "The students failed the exam.", "The library is open on Sundays.",
    "She was very sad about the news.", "He is not afraid of the dark.",
    "They got divorced last summer.", "My sister lives in the same city.",
]

CALIBRATION = [
    "The river flooded the fields after the storm.", "A small boat sailed across the bay.",
    "The museum opens a new exhibition next week.", "He plays the piano in a jazz band.",
    "The garden is full of red roses.", "We watched a film at the cinema last night.",
    "The mountain path is steep and narrow.", "The children built a sandcastle on the beach.",
    "The bakery sells fresh bread every morning.", "She painted a portrait of her grandmother.",
    "The bridge was built two hundred years ago.", "He repaired the bicycle in the garage.",
    "The concert tickets sold out in an hour.", "Leaves turn yellow and red in autumn.",
    "The farmer grows wheat and potatoes.", "The keys are on the kitchen table.",
    "Please close the window, it is getting cold.", "The elevator is out of order.",
    "I would like a cup of tea with milk.", "The city council approved the new park.",
    "The scientist published a paper on climate.", "A thunderstorm is coming from the west.",
    "He wrote a letter to his old friend.", "The price of fuel rose again.",
    "The orchestra played a symphony by Mozart.", "The queue at the bank was very long.",
    "The moon was bright over the hills.", "She planted tomatoes in the spring.",
    "The firefighters rescued a cat from the roof.", "Our internet connection keeps dropping.",
    "They celebrated their anniversary in Paris.", "The recipe calls for three eggs.",
    "The judge announced the verdict.", "A new bakery opened on our street.",
    "The marathon starts at eight o'clock.", "The software crashed during the demo.",
    "He sold his old car to a neighbour.", "The candle burned all night.",
    "The astronauts returned to Earth safely.", "The road to the village is closed.",
    "I need to charge my phone.", "The volcano erupted last century.",
    "She speaks three languages fluently.", "The shop offers a discount on winter coats.",
    "The clock on the wall stopped at midnight.", "The puppy chewed my slippers.",
    "The hospital opened a new wing.", "We went hiking in the forest.",
    "The parcel arrived a day early.", "The painter used bright colours.",
    "The exam results will be published tomorrow.", "The ship docked in the harbour at dawn.",
    "He is allergic to peanuts.", "The band released a new album.",
    "The lake froze during the winter.", "The printer needs a new cartridge.",
    "A crowd gathered in the town square.", "The cake needs another ten minutes in the oven.",
    "The train was cancelled due to a strike.", "She adopted a kitten from the shelter.",
    "The wifi password is on the router.", "My grandfather tells wonderful stories.",
    "The football stadium holds fifty thousand people.", "The flowers need watering every day.",
]


def sentences():
    """The queries (PAIRS, flattened: sentence 2k and 2k+1 are a pair) then DISTRACTORS."""
    return [s for p in PAIRS for s in p] + DISTRACTORS


def check_lengths(texts):
    for t in texts:
        n = bw.encode(t, LENGTH)[2]
        if n > LENGTH - 2:
            raise SystemExit(f"sentence too long for {LENGTH} tokens ({n} pieces): {t!r}")


def embed(model, texts, threads=2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    tok = "onnx::Shape_422" if "onnx::Shape_422" in names else None
    out = []
    for t in texts:
        ids, mask, _ = bw.encode(t, LENGTH)
        feed = {"input_ids": ids[None], "attention_mask": mask[None]}
        if tok is not None:
            h = sess.run([tok], feed)[0][0].astype(np.float64)  # [16, 384]
            m = mask.astype(np.float64)[:, None]
            out.append((h * m).sum(0) / max(m.sum(), 1e-9))
        else:
            out.append(np.asarray(sess.run(["461"], feed)[0][0], np.float64))
    return np.stack(out)


def retrieval_top1(model, threads=2):
    texts = sentences()
    e = embed(model, texts, threads)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    q = 2 * len(PAIRS)
    nearest = sim[:q].argmax(1)
    partner = np.arange(q) ^ 1  # pair (2k, 2k+1)
    hits = nearest == partner
    return float(hits.mean()), hits, nearest


def write_calibration(path):
    check_lengths(CALIBRATION)
    overlap = set(CALIBRATION) & set(sentences())
    if overlap:
        raise SystemExit(f"calibration sentences also in the eval pairs: {sorted(overlap)}")
    ids, mask = bw.encode_batch(CALIBRATION, LENGTH)
    np.savez(path, input_ids=ids, attention_mask=mask)
    return len(CALIBRATION)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-calibration", metavar="NPZ")
    ap.add_argument("--verbose", action="store_true", help="list the queries that miss")
    a = ap.parse_args()
    if a.write_calibration:
        n = write_calibration(a.write_calibration)
        print(f"wrote {n} calibration sentences to {a.write_calibration}")
        return
    if not a.model:
        ap.error("MODEL is required")
    check_lengths(sentences())
    v, hits, nearest = retrieval_top1(a.model, a.threads)
    if a.verbose:
        texts = sentences()
        for i in np.flatnonzero(~hits):
            print(f"miss: {texts[i]!r} -> {texts[nearest[i]]!r}")
    print(f"retrieval_top1 {v:.6f}")


if __name__ == "__main__":
    main()
