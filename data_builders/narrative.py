"""Long, invented stories with a definite chronology, generated offline and deterministically.

The SORT task (which of two passages of a book came first?) needs long books that no model can
have read in pre-training, and that can be built without the network: with a real novel a model
might answer from memory instead of from the context. So we write our own. `narrative(seed,
n_words)` draws a cast with invented names, invented places and objects, and tells a chain of
episodes in strict chronological order. A day counter with seasons and years only moves forward
and drives time markers ("Three days later", "By the end of the winter", "On the morning after the
fire at the mill in Ashgrove"); characters travel, meet, buy, find, give and lose objects, arrive
and leave for good; later episodes refer back to earlier ones with exact day counts ("It had been
forty days since the flood at Millbrook"). A reader who remembers the story can tell which of two
passages came earlier; one who does not sees two plausible passages.

The text is plain prose: paragraphs of 3-8 sentences separated by blank lines, no headings, no
quotes, no digits (numbers are spelled out), no abbreviations with periods, and sentences of 6-30
words that start with a capital letter and end with . ! or ?, so `haystack.split_sentences` cuts
them exactly. Everything is drawn from `random.Random(derive_seed("narrative", seed))`, and the
story does not depend on `n_words`: a shorter text is a prefix of a longer one. `episodes(seed)`
yields the same story paragraph by paragraph, with the day each happens on and the characters it
introduces (for tests, and for builders that want the chronology itself).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator

from data_builders.haystack import derive_seed

# --- names and things ----------------------------------------------------------------------------

_NAME_A = ("Ma", "Te", "Ro", "Li", "Ca", "Be", "Ne", "Jo", "Ha", "Sa", "Wi", "E", "O", "Ta", "Fe", "Ga", "Ri",
           "Da", "Mi", "Lo", "Pe", "Ve", "Ka", "Si", "No", "Bri", "Tho", "Al", "I", "Ye", "Cor", "Hes")
_NAME_B = ("ra", "lin", "den", "ric", "na", "wen", "sa", "mon", "tha", "ro", "la", "vin", "del", "ria", "bel",
           "dan", "nor", "mira", "lis", "ven", "mar", "rin", "sel", "dra", "lo", "nie", "tor", "mund")
_FAMILY_A = ("Ash", "Thorn", "Wick", "Hollo", "Brand", "Mer", "Cal", "Fen", "Hart", "Oak", "Stan", "Bram",
             "Cor", "Dun", "Gar", "Pell", "Quill", "Rook", "Tarn", "Vell", "Whit", "Ember")
_FAMILY_B = ("ley", "wood", "ford", "by", "wick", "ton", "more", "bury", "well", "den", "ham", "stone",
             "field", "low", "ridge", "mere")
_PLACE_A = ("Ash", "Mill", "Stone", "Crow", "Elder", "Wren", "Marsh", "Red", "Gal", "Hollin", "Lark", "Thistle",
            "Fern", "Kestrel", "Willow", "Amber", "Cinder", "Dove", "Harrow", "Iron", "Moss", "Pike", "Salt",
            "Tansy", "Umber", "Wold", "Yarrow", "Heron", "Bleak", "Fox")
_PLACE_B = ("grove", "brook", "haven", "moor", "field", "mere", "holt", "stead", "combe", "dale", "bridge",
            "cross", "hythe", "thorpe", "well", "stow", "fell", "gate")
_RIVER_B = ("ven", "well", "lune", "rith", "dle", "mar", "sk", "nt")
_PLACE_KINDS = ("village", "market town", "fishing village", "mill town", "hamlet", "river port", "hill town",
                "farming village")
_LANDMARKS = ("the mill", "the old bridge", "the market square", "the chapel", "the harbour wall", "the inn",
              "the forge", "the orchard", "the ferry landing", "the granary", "the well", "the watchtower",
              "the tannery", "the schoolhouse", "the lighthouse", "the bakery", "the boathouse", "the weir",
              "the toll gate", "the sawmill", "the cider press", "the library", "the dye works",
              "the sheep fold", "the bell tower", "the ropewalk", "the salt pans", "the lime kiln", "the quay",
              "the almshouse", "the stone cross", "the tithe barn", "the horse fair field", "the counting house",
              "the fish market", "the old fort", "the pump house", "the walled garden")
# (job, workplace, products, verb for making them)
_JOBS = (("baker", "oven", "loaves", "baked"), ("weaver", "loom", "bolts of cloth", "wove"),
         ("blacksmith", "anvil", "horseshoes", "forged"), ("miller", "millstones", "sacks of flour", "ground"),
         ("fisher", "nets", "baskets of herring", "landed"), ("carpenter", "bench", "chairs", "built"),
         ("potter", "wheel", "jars", "threw"), ("tailor", "cutting table", "coats", "sewed"),
         ("apothecary", "shelves", "bottles of tincture", "mixed"), ("cooper", "yard", "barrels", "hooped"),
         ("candlemaker", "vats", "candles", "dipped"), ("bookbinder", "press", "books", "bound"),
         ("clockmaker", "workbench", "clocks", "mended"), ("shepherd", "pens", "fleeces", "sheared"),
         ("beekeeper", "hives", "jars of honey", "filled"), ("glassblower", "furnace", "bottles", "blew"),
         ("rope maker", "ropewalk", "coils of rope", "twisted"), ("brewer", "coppers", "casks of ale", "brewed"))
_TRAITS = ("patient", "stubborn", "cheerful", "quiet", "quick to anger", "generous", "careful", "restless",
           "proud", "kind", "suspicious", "curious", "shy", "talkative", "honest", "forgetful", "brave",
           "thrifty", "gloomy", "clever", "vain", "cautious", "gentle", "sharp-tongued", "dreamy", "hard-working",
           "secretive", "loyal", "superstitious", "good-humoured")
_ITEM_ADJ = ("brass", "silver", "copper", "iron", "wooden", "carved", "painted", "cracked", "green", "blue", "red",
             "leather", "bone", "tin", "old", "heavy", "little", "gilded", "worn", "black", "pewter", "enamel",
             "walnut", "battered", "tarnished", "polished", "chipped", "dented", "engraved", "rusty", "amber",
             "yellow", "ivory", "oak")
_ITEM_NOUNS = ("lantern", "compass", "key", "ledger", "knife", "ring", "map", "locket", "flute", "box", "bell",
               "spyglass", "whistle", "hourglass", "comb", "brooch", "cup", "pipe", "mirror", "seal", "chess set",
               "music box", "prayer book", "sextant", "inkwell", "pocket watch", "thimble", "snuffbox", "kettle",
               "candlestick", "fiddle", "drum", "almanac", "chart", "quill case", "teapot", "pendant", "medal",
               "lockbox", "purse", "bracelet", "necklace", "hand mirror", "tinderbox", "jewel case", "tobacco tin",
               "horn", "penknife", "magnifying glass")
_SEASONS = ("spring", "summer", "autumn", "winter")
_WEATHER = {  # phrases that read after "after", "through" or "like"
    "spring": ("a night of soft rain", "a cold wind from the hills", "the first warm sunshine", "a thin white mist",
               "a late frost", "a week of showers", "a bright and windy morning", "a hailstorm at noon",
               "a mild grey drizzle", "a blustery afternoon"),
    "summer": ("a heavy heat", "a sudden thunderstorm", "a hot dry wind", "a long dry spell", "swarms of midges",
               "a warm steady drizzle", "a sultry night", "a blazing afternoon", "a sea mist that burned off by noon",
               "a week without a cloud"),
    "autumn": ("thick fog along the river", "a gale from the sea", "a sharp frost", "a grey drizzle",
               "a week of storms", "a spell of low golden light", "heavy autumn rain", "a damp cold wind",
               "a night of howling wind", "a mild and misty morning"),
    "winter": ("deep snow", "a hard white frost", "a bitter east wind", "freezing fog", "a night of sleet",
               "a heavy snowfall", "a long cold spell", "black ice on every road", "a thaw and then a freeze",
               "a blizzard from the north"),
}
_NATURE = {  # a sight of the season, for "{x} noticed ..."
    "spring": ("primroses along the hedges", "lambs in the lower fields", "the first swallows over the water",
               "blossom on the pear trees", "a cuckoo calling from the woods", "frogspawn in the ditches",
               "new leaves on the willows", "violets under the churchyard wall"),
    "summer": ("poppies in the barley", "swifts screaming over the roofs", "dragonflies above the mill pond",
               "wild roses in the hedges", "bees in the lime trees", "the meadows full of clover",
               "the river low and clear", "foxgloves by the roadside"),
    "autumn": ("blackberries in the hedges", "geese flying south in long lines", "mushrooms in the wet grass",
               "the beech woods turning copper", "rooks gathering in the elms", "apples rotting in the grass",
               "smoke rising from bonfires of leaves", "spiders' webs white with dew"),
    "winter": ("robins on the frozen fence posts", "icicles hanging from the eaves", "holly berries by the gate",
               "the tracks of a hare in the snow", "crows on the bare fields", "the mill wheel frozen still",
               "snow drifted against the doors", "the ponds grey with ice"),
}
_ANIMALS = (("dog", "barking"), ("owl", "calling"), ("goat", "bleating"), ("crow", "cawing"), ("donkey", "braying"),
            ("cockerel", "crowing"), ("gull", "crying"), ("fox", "screaming"), ("horse", "neighing"), ("cow", "lowing"))
_FOODS = ("a bowl of barley soup", "bread and cheese", "a plate of fried herring", "an apple pie", "mutton stew",
          "a pot of beans", "roasted chestnuts", "oatcakes with honey", "a pigeon pie", "cold ham and pickles",
          "eel pie", "a dish of stewed plums", "buttered turnips", "a rabbit pie", "leek and potato broth",
          "smoked mackerel", "a wedge of seed cake", "pease pudding", "hot spiced cider", "porridge with cream")
_CONTAINERS = ("coat pocket", "satchel", "sea chest", "apron pocket", "travelling bag", "bedside drawer", "tin box",
               "waistcoat pocket", "oak chest", "knapsack", "writing box")
_HIDING = ("under a loose floorboard", "wrapped in an old shawl", "in the mud beside the path",
           "behind a row of barrels", "at the bottom of a flour sack", "in a bird's nest", "beneath a pile of sacks",
           "inside a hollow post")
_GOODS = ("salt", "wool", "lamp oil", "flour", "timber", "candles", "rope", "cider", "honey", "iron nails", "peat",
          "barley", "tallow", "linen", "oats", "hides", "slate", "tar", "dried fish", "turnips", "hops", "coal",
          "beeswax", "hemp")
_TRADERS = ("pedlar", "widow", "sailor", "tinker", "farmer's boy", "stallholder", "travelling merchant",
            "old soldier", "fishwife", "ragman", "horse dealer", "retired schoolmaster", "ship's cook", "knife grinder")
_SLEEP = ("in a hay barn", "under an upturned boat", "at a roadside inn", "in a shepherd's hut", "beside a hedge",
          "in the loft of a friendly farm", "at a ferryman's cottage", "in a ruined chapel")
_ROUTES = ("the high road", "the river path", "the old drove road", "the coast road", "the track through the forest",
           "the toll road", "the path over the hills", "the causeway")
_DIRECTIONS = ("north", "south", "east", "west")
_TOPICS = ("harvest", "fair", "tides", "roads", "accounts", "weddings", "rents", "prices", "quarrels", "taxes",
           "floods", "markets", "funerals", "elections")
_BOOKS = ("an old almanac", "a book of sea stories", "the parish records", "a history of {far}", "a book of riddles",
          "a herbal with coloured plates", "a collection of sermons", "a traveller's account of {far}")
_BUILDS = ("boathouse", "hen house", "garden wall", "footbridge", "bread oven", "dovecote", "woodshed", "pigsty",
           "market stall", "rowing boat")
_FEELINGS = ("uneasy", "hopeful", "homesick", "angry", "lonely", "content", "restless", "afraid", "grateful",
             "guilty", "tired", "proud")
_CHORES = ("mended a broken fence", "patched the roof", "chopped a pile of firewood", "scrubbed the floors",
           "sharpened every knife in the house", "mended {x_his} boots", "cleaned out the chimney",
           "dug over the vegetable patch", "whitewashed the back wall", "oiled the hinges of the door",
           "counted the money in the strongbox", "sorted a drawer of old letters")
_TITLE_NOUNS = ("Lanterns", "Bells", "Orchards", "Winters", "Keys", "Letters", "Harvests", "Bridges", "Ravens",
                "Lamps", "Roads", "Mills", "Tides", "Fires", "Clocks", "Gardens")
_TITLES = ("The {noun} of {place}", "A Year in {place}", "The {item}", "{first} of {place}", "The {job} of {place}",
           "Letters from {place}", "The Road to {place}", "Winter at {place}", "The {noun} of {river}")

# --- sentence templates ----------------------------------------------------------------------------
# Slots: {x} the character in focus (x_he, x_his, x_him; x_full), {y} a second one, {z} a third;
# {place} where x is, {lm} a landmark there, {far} another place; {when} the paragraph's time marker;
# {past} an earlier event, {since} "<n> days since <earlier event>"; {n} a fresh number (two to forty).

_T: dict[str, tuple[str, ...]] = dict(
    intro=("{x_full} was the {job} of {home}, {a_trait} {woman} who had lived there all {x_his} life.",
           "{x_full} had been the {job} in {home} for {n} years and was known there as {trait}.",
           "Everyone in {home} knew {x_full}, the {trait} {job} who kept {item} in {a_box}.",
           "{x_full}, the {job} of {home}, was {trait}, and {x_he} had never travelled farther than {far}.",
           "{x_full} worked as {a_job} in {home}, and people there called {x_him} {trait} behind {x_his} back.",
           "{x_full} had come to {home} as a child and stayed to become its {job}, {trait} as ever."),
    colour=("{x} noticed that {y} had not been seen in {place} for {n} days.",
            "Somewhere near {lm} {animal} was {noise}, and {x} stopped to listen for {m} minutes.",
            "The people of {place} were still talking about {past}, {n} of them at {lm} alone.",
            "It was the {dayth} day of the {season}, and {x} could hear {river} from {lm}.",
            "{x} ate {food} at {lm} in {place} and paid {n} copper coins for it.",
            "Nobody in {place} could say what {y} had been doing near {lm} on the {dayth} day of the {season}.",
            "Who had been walking by {lm} in {place} so late after {past}, and why?",
            "How much {place} had changed since {past}!",
            "It had been {since}, and {x} still thought about it.",
            "That {season}, {n} new families came to live in {place}, and {x} knew none of them.",
            "The price of {goods} in {place} had risen to {n} pennies, and {x} complained about it to {y}.",
            "{x} remembered that {y} still owed {x_him} {n} silver pennies from before {past}.",
            "From {lm} in {place}, {x} watched {n} boats go down {river} toward {far}.",
            "Would {y} ever come back to {yhome} after {past}, {x} wondered?",
            "{x} had slept badly for {n} nights, thinking of {past}.",
            "The bell at {lm} rang {n} times, and {x} counted every stroke.",
            "Since {past}, {x} had walked past {lm} in {place} {n} times without stopping.",
            "In {place} they said that {y} had grown {trait} since {past}.",
            "{x} lit a lamp at {lm} and wrote {n} lines in a notebook about {past}.",
            "{n} carts of {goods} had passed through {place} since {past}, and {x} had counted them all.",
            "Even {y} admitted that {place} had known nothing like {weather} since {past}.",
            "On the way past {lm}, {x} noticed {nature}.",
            "There were {nature} near {place} that {season}, and {x} stopped to look for {m} minutes.",
            "{x} felt {feeling} that evening, though {x_he} could not have said why.",
            "Since {past}, {x} had felt {feeling} whenever {x_he} passed {lm}.",
            "In the morning {x} {chore}, and in the afternoon {x_he} went to see {y}.",
            "Before supper {x} {chore} while {y} talked about {past}.",
            "{y} sent {x} {food} and a note of {n} words, all of them about {past}.",
            "Rumour in {place} said that {y} had paid {n} pennies for a horse, which nobody believed.",
            "{Trader} passed through {place} selling {goods}, and {x} bought {m} pounds of it.",
            "The inn at {place} was full of travellers from {far}, {n} of them by {x}'s count.",
            "{x} wondered what {y} was doing in {yat} and whether {yhe} ever thought of {place}.",
            "That night {x} dreamed about {past}, and woke before dawn."),
    colour_item=("{x} still kept {item} in {x_his} {box} and took it out {n} times that day.",
                 "{x} had carried {item} for {held}, ever since getting it {origin}.",
                 "{x} showed {item} to {y}, who offered {n} pennies for it and was refused."),
    first=("on the {dayth} day of the {season} in the first year", "early in the {season} of the first year",
           "in the {season} of the first year, after {weather}"),
    travel_start=("{when}, {x} set out from {place} on {route} to {dst}, carrying {item}.",
                  "{when}, {x} left {place} before dawn and walked toward {dst} with {n} pennies in {x_his} purse.",
                  "{when}, {x} took a boat down {river} from {place} to {dst}.",
                  "{when}, {x} packed {item} and began the journey from {place} to {dst}.",
                  "{when}, {x} rode a borrowed mule along {route} from {place} to {dst}.",
                  "{when}, {x} hitched a ride on a wagon of {goods} bound from {place} to {dst}.",
                  "{when}, {x} locked the door of {x_his} house in {place} and set off for {dst}."),
    travel_road=("The journey took {d}, and {weather} followed {x_him} most of the way.",
                 "It took {d} to reach {dst}, and on the way {x_he} slept {sleep}.",
                 "On {route} {x_he} passed {n} carts heading the other way, all of them loaded with {goods}.",
                 "All the way to {dst}, {x} thought about {past} and about {y}.",
                 "Near the {dir} edge of {dst} {x_he} was caught by {weather} and had to shelter {sleep}.",
                 "A lame horse cost {x_him} half a day near {far}, and {x_he} slept {sleep}.",
                 "On the road {x_he} shared {food} with {trader} who had once lived in {dst}."),
    travel_host=("When {x} reached {dst}, {y} was waiting at {dlm} with {food}.",
                 "In {dst} {x} went straight to {dlm}, where {y} greeted {x_him} warmly.",
                 "{y} met {x} at {dlm} in {dst} and asked at once about {past}.",
                 "{y} was surprised to see {x} in {dst} so soon after {past}."),
    travel_home=("{x} was glad to be home in {dst}, and went first to {dlm} to hear the news.",
                 "Back in {dst}, {x} found that {n} letters had come while {x_he} was away.",
                 "Nothing much had changed in {dst}, except that {dlm} had a new roof."),
    travel_alone=("{dst} was a small {kind} of {n} households, and nobody there knew {x} by name.",
                  "When {x} reached {dst}, the {kind} was quiet and {dlm} was shut.",
                  "{x} took a room near {dlm} in {dst} and paid {n} pennies for the week."),
    meet_start=("{when}, {x} met {y} at {lm} in {place}.",
                "{when}, {x} and {y} sat together by {lm} in {place}.",
                "{when}, {y} knocked on the door of the {job}'s house in {place} and asked for {x}.",
                "{when}, {x} found {y} waiting outside {lm} in {place}.",
                "{when}, {x} ran into {y} near {lm}, on the {dir} side of {place}.",
                "{when}, {y} called on {x} in {place} and stayed until the candles burned down.",
                "{when}, {x} invited {y} to supper at {x_his} house near {lm} in {place}."),
    meet_came=("{y} had come over from {yfrom} that morning, a walk of {n} miles.",
               "{y} had arrived from {yfrom} the night before with {n} pennies and a sack of {goods}."),
    meet_talk=("They spoke for a long time about {topic}.",
               "{y} wanted to talk about {topic}, but {x} changed the subject.",
               "The two of them argued about {topic} until {lm} closed for the night.",
               "{x} told {y} everything {x_he} knew about {topic}.",
               "Over {food}, they talked about {topic}.",
               "{x} listened while {y} complained at length about {topic}.",
               "Neither of them wanted to mention {topic}, so they talked about {weather} instead."),
    meet_news=("{y} said that {z} had been seen near {flm} in {far} with a stranger.",
               "{y} said that {flm} at {far} would stay closed until the {season2}.",
               "{y} had heard that the {goods} merchants of {far} were asking {n} pennies a sack.",
               "{x} promised to come back in {n} days with {goods} from {far}.",
               "{y} warned {x} not to trust anyone from {far} who asked about {past}.",
               "{y} mentioned that a ship from {far} had lost {n} crates of {goods} off the headland.",
               "According to {y}, the ferry at {far} now cost {n} pennies, twice what it had cost before {past}."),
    meet_give=("Before they parted, {y} gave {x} {item} and asked {x_him} to keep it safe.",
               "{y} pressed {item} into {x}'s hands and would not say why.",
               "{x} left with {item}, which {y} had sold {x_him} for {n} pennies."),
    find_lost=("{when}, {x} found {item} {hiding} near {lm} in {place}.",
               "{when}, while working near {lm} in {place}, {x} picked up {item}."),
    find_known=("It was the same {noun} that {y} had lost there {ago} days before.",
                "{x} knew at once that it belonged to {y}, who had lost it {ago} days earlier."),
    find_return=("{x} sent word to {y}, and by evening {item} was back with its owner.",
                 "{x} carried it to {y} at once and refused the {n} pennies offered as a reward."),
    find_keep=("{x} decided to keep the {noun} for now and said nothing to {y}.",
               "{x} meant to return the {noun} to {y}, but first {x_he} hid it in {x_his} {box}."),
    find_new=("{when}, {x} bought {item} from {trader} in the market at {place} for {n} pennies.",
              "{when}, {x} found {item} {hiding} behind {lm} in {place}.",
              "{when}, {trader} in {place} sold {x} {item} for {n} pennies and a sack of {goods}."),
    find_detail=("{x} turned the {noun} over in {x_his} hands, wondering who had owned it before.",
                 "It was said that the {noun} had once belonged to a captain from {far}.",
                 "It was {adj} and heavier than it looked, and {x} liked it at once.",
                 "{x} showed the {noun} to {y}, who said {x_he} had paid far too much for it."),
    quarrel=("{when}, {x} and {y} quarrelled at {lm} in {place} over {n} pennies and an old promise.",
             "{y} said things about {past} that {x} could not forget.",
             "For {n} days afterwards, {x} crossed the street whenever {x_he} saw {y} coming."),
    build=("{when}, {x} began building a {thing} beside {lm} in {place}.",
           "{y} lent {x_him} {n} planks and a cart, and the work took {m} days.",
           "When the {thing} was finished, {n} people from {place} came to look at it."),
    illness=("{when}, {x} fell ill in {place} with a fever that kept {x_him} in bed for {m} days.",
             "{y} sat with {x_him} every evening for {m} days and read aloud from {book}.",
             "When {x} was well again, {x_he} walked to {lm} and back {m} times in one morning."),
    lose_start=("{when}, {x} discovered that {item} was missing.",
                "{when}, {x} reached into {x_his} {box} and found that {item} was gone.",
                "{when}, somewhere between {lm} and home, {x} lost {item}."),
    lose_search=("{x_he} searched {lm} and every lane of {place} but found nothing.",
                 "{x} had kept it for {held}, ever since getting it {origin}.",
                 "{x_he} had owned the {noun} since before {past} and felt its loss badly."),
    lose_suspect=("Some in {place} whispered that {y} had taken the {noun}, though nobody had seen it happen.",
                  "{x} could not help suspecting {y}, who had been near {lm} that day."),
    work_more=("The apprentice broke {m} of them, and {x} sent the boy home early.",
               "A buyer from {far} looked at them for an hour and bought nothing.",
               "{x} sang while {x_he} worked, which {x_he} had not done since {past}.",
               "The work went slowly because of {weather}, and {x} grumbled all afternoon."),
    work_start=("{when}, {x} spent the whole day at {x_his} {shop} in {place}.",
                "{when}, {x} was back at the {shop} in {place} with {m} orders waiting.",
                "{when}, {x} started work late in {place} because of {weather}.",
                "{when}, {x} took on a new apprentice in {place}, a boy of {m} from {far}."),
    work_made=("By evening {x_he} had {made} {n} {products}, more than on any day since {past}.",
               "{x_he} {made} {n} {products} that day, and {m} of them were spoiled.",
               "That day {x} {made} only {n} {products}, because the {shop} needed mending."),
    work_buyer=("{y} came by and bought {m} of the {products} for {n} pennies.",
                "{y} ordered {m} more {products} to be ready before the {season2}.",
                "A message from {y} asked for {m} {products} to be sent to {yat}."),
    letter_start=("{when}, {x} wrote a letter to {y}, who was still in {yat}.",
                  "{when}, a letter from {y} in {yat} reached {x} in {place}.",
                  "{when}, {x} sat down at {lm} in {place} to write to {y} in {yat}."),
    letter_body=("The letter described {past} and asked after the health of {z}.",
                 "It ran to {n} pages and said a great deal about {past}.",
                 "In it there was news of {past}, and a question about {z}."),
    letter_end=("A carter took it on to {yat}, and it arrived {n} days later.",
                "{x} paid {n} pennies to have it carried by the post rider.",
                "It was never answered, and {x} did not write to {y} again until after {past}."),
    memory_start=("{when}, {x} sat by the window at {lm} in {place} and remembered {past}.",
                  "{when}, walking past {lm} in {place}, {x} thought again about {past}.",
                  "{when}, {x} could not sleep and lay awake in {place} thinking of {past}."),
    memory_since=("It had been {since}, and {place} had changed in small ways.",
                  "By {x_his} count it had been {since}.",
                  "{x} told {y} that it felt like a year, though it had only been {since}."),
    fair_start=("{when}, the {season} fair opened at {place}, with {n} stalls around {lm}.",
                "{when}, people came from all over the {dir} to the {season} fair at {place}."),
    fair_do=("{x} won a prize of {n} pennies for the best {products} and spent half of it at once.",
             "{x} sold {n} {products} at the fair and bought a ribbon for {y}.",
             "{x} danced with {y} until the lamps went out around {lm}."),
    newcomer_start=("{when}, {a_job} named {x_full} arrived in {place} from faraway {far}.",
                    "{when}, a stranger came to {place}: {x_full}, {a_trait} {job} from {far}.",
                    "{when}, {x_full} rode into {place} from {far}, looking for work as {a_job}."),
    newcomer_detail=("{x_he} took lodgings near {lm} and paid {n} weeks in advance.",
                     "{x_he} carried little except {item}, which {x_he} never let out of sight.",
                     "{y} was the first to speak to the newcomer, and found {x_him} {trait}."),
    wedding=("{when}, {x} and {y} were married at {lm} in {place} in front of {n} guests.",
             "{z} played the fiddle, and the dancing went on until the lamps at {lm} burned out.",
             "Nobody in {place} could remember a wedding like it since {past}."),
    leave=("{when}, {x} sold everything except {item} and left {place} for good.",
           "{y} walked with {x_him} as far as {lm} and watched {x_him} take {route} toward {far}.",
           "After {past}, {x} had said, nothing would ever be the same in {place}."),
    fire=("{when}, a fire broke out at {lm} in {place}.",
          "{x} and {y} carried water from the {source} until the flames were out, but the roof of {lm} was lost.",
          "{n} families lost their stores of {goods} that night."),
    flood=("{when}, {river} rose over its banks and flooded {lm} in {place}.",
           "The water stood {m} feet deep in the lanes, and {x} lost {n} {products} to it.",
           "It took {y} and the others {n} days to clear the mud from {lm}."),
    storm=("{when}, a storm came in from the {dir} and broke over {place}.",
           "It tore the shutters from {lm} and drowned {n} sheep in the fields around {place}.",
           "{x} spent that night with {y}, listening to the wind and remembering {past}."),
    fever=("{when}, a fever began to spread through {place}.",
           "Within a week {n} people were in their beds, {y} among them.",
           "{x} brought {food} to the sick every day and did not fall ill."),
    theft=("{when}, thieves broke into {lm} at {place} and took {n} silver crowns.",
           "{x} was the one who found the door of {lm} forced open at dawn.",
           "Suspicion fell first on {y}, who had been seen near {lm} the evening before."),
    collapse=("{when}, part of {lm} in {place} collapsed after {weather}.",
              "Nobody was hurt, though {x} had been standing under it only {n} minutes before.",
              "{y} said it had been unsafe ever since {past}."),
    spring=("{when}, the lambing began on the farms around {place}, and {x} helped to deliver {n} lambs.",
            "The last snow had gone from the hills above {place}, and {y} was ploughing near {lm}.",
            "Not since {past} had {x} worked so hard or slept so little."),
    summer=("{when}, the hay was cut in the meadows below {place}, and {x} worked in the fields for {n} days.",
            "{y} brought cider out to the haymakers at noon, {n} jugs of it.",
            "The evenings were long, and they sat by {lm} talking about {past}."),
    autumn=("{when}, the apples were gathered in the orchards of {place}, and {x} filled {n} baskets.",
            "The cider press at {place} ran day and night, and {y} kept count of the barrels.",
            "By then {past} seemed a long time ago."),
    winter=("{when}, {river} froze from bank to bank near {place}, and {x} walked across it to {far}.",
            "Children skated below {lm}, and {y} roasted chestnuts for {n} of them.",
            "It was the coldest winter in {place} since {past}."),
)
_CALAMITIES = ("fire", "flood", "storm", "fever", "theft", "collapse")
_LABELS = dict(fire="the fire at {lm} in {place}", flood="the flood at {place}",
               storm="the great storm of the {year} {season}", fever="the fever in {place}",
               theft="the robbery at {lm} in {place}", collapse="the collapse of {lm} at {place}",
               spring="the lambing of the {year} spring", summer="the haymaking of the {year} summer",
               autumn="the apple harvest of the {year} autumn", winter="the great frost of the {year} winter",
               fair="the {season} fair at {place}", quarrel="the quarrel between {x} and {y}",
               build="the building of the {thing} at {place}", illness="the illness of {x}",
               wedding="the wedding of {x} and {y}",
               leave="the departure of {x} from {place}", newcomer="the arrival of {x} in {place}")

# --- numbers in words ------------------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}


def number_words(n: int) -> str:
    """0 <= n < 1000000 in words: 'forty-two', 'three hundred and six'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" and " + number_words(n % 100) if n % 100 else "")
    return number_words(n // 1000) + " thousand" + (" " + number_words(n % 1000) if n % 1000 else "")


def ordinal_words(n: int) -> str:
    """1 -> 'first', 22 -> 'twenty-second', 40 -> 'fortieth'."""
    head, sep, last = number_words(n).rpartition("-" if n % 100 > 20 and n % 10 else " ")
    last = _ORDINAL.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return head + sep + last


# --- the world -------------------------------------------------------------------------------------

DAYS_PER_SEASON = 91


def season_of(day: int) -> str:
    return _SEASONS[(day // DAYS_PER_SEASON) % 4]


def year_of(day: int) -> int:
    return day // (4 * DAYS_PER_SEASON) + 1


@dataclass(eq=False)
class _Place:
    name: str
    kind: str
    landmarks: tuple[str, ...]


@dataclass(eq=False)
class _Item:
    adj: str
    noun: str
    origin: str  # "from a pedlar in Ashgrove", for back references
    got_day: int  # when its present holder got it
    lost_at: _Place | None = None
    lost_by: "_Person | None" = None
    lost_day: int = 0

    @property
    def name(self) -> str:
        return f"the {self.adj} {self.noun}"


@dataclass(eq=False)
class _Person:
    first: str
    last: str
    job: tuple[str, str, str, str]
    trait: str
    she: bool
    home: _Place
    at: _Place
    items: list[_Item] = field(default_factory=list)
    introduced: bool = False
    weight: float = 1.0
    married: bool = False


@dataclass(frozen=True)
class _Event:
    label: str  # "the fire at the mill in Ashgrove"
    day: int


@dataclass(frozen=True)
class Episode:
    """One paragraph: the day it happens on (never decreasing), its sentences, and the characters
    whose names appear for the first time in it."""

    day: int
    sentences: tuple[str, ...]
    new_people: tuple[str, ...]


def _days(n: int) -> str:
    return "less than a day" if n == 0 else f"{number_words(n)} day{'s' if n > 1 else ''}"


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" or word.startswith("hon") else "a ") + word


class _Story:
    """The world state and the episode generator; every draw comes from one seeded Random.

    Episode handlers write sentences with `line()`, which also places the introduction of any
    character named for the first time right after the sentence that brought them in."""

    def __init__(self, seed: int):
        self.rng = rng = random.Random(derive_seed("narrative", seed))
        self.used: set[object] = set()  # names of people, places, the river, and (adj, noun) of items
        self.river = "the " + self._unique(lambda: rng.choice(_NAME_A) + rng.choice(_RIVER_B))
        self.places = [self._place() for _ in range(rng.randint(7, 10))]
        self.day = rng.randint(0, 3 * DAYS_PER_SEASON - 1)
        self.cast: list[_Person] = []
        for k in range(rng.randint(5, 7)):
            self._person(self.places[0] if k < 3 else None, weight=4.0 if k < 2 else 1.5)
        backstory = rng.sample(("great flood", "fire", "hard winter", "last wedding", "shipwreck", "big fair"), 3)
        agos = sorted(rng.sample(range(30, 900), 3), reverse=True)
        self.events = [_Event(f"the {what} at {where.name}", self.day - ago)
                       for what, where, ago in zip(backstory, rng.sample(self.places, 3), agos)]
        self.lost: list[_Item] = []
        self.recent: list[str] = []
        self.focus = self.cast[0]  # the character the paragraph is about
        self.out: list[str] = []  # the sentences of the paragraph being written
        self.templates: set[str] = set()  # and the templates they came from
        self.when = self.when_short = ""  # its time marker, long and short
        self.new_people: list[str] = []
        self.pending: list[_Person] = []
        hero = self.cast[0]
        self.title = rng.choice(_TITLES).format(
            noun=rng.choice(_TITLE_NOUNS), place=self.places[0].name, first=hero.first, river=self.river.title(),
            item=hero.items[0].name[4:].title(), job=hero.job[0].title())

    # -- makers
    def _unique(self, make):
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def _place(self) -> _Place:
        rng = self.rng
        name = self._unique(lambda: rng.choice(_PLACE_A) + rng.choice(_PLACE_B))
        return _Place(name, rng.choice(_PLACE_KINDS), tuple(rng.sample(_LANDMARKS, 4)))

    def _item(self, origin: str, got_day: int) -> _Item:
        adj, noun = self._unique(lambda: (self.rng.choice(_ITEM_ADJ), self.rng.choice(_ITEM_NOUNS)))
        return _Item(adj, noun, origin, got_day)

    def _person(self, home: _Place | None = None, weight: float = 1.0) -> _Person:
        rng = self.rng
        first = self._unique(lambda: rng.choice(_NAME_A) + rng.choice(_NAME_B))
        she = rng.random() < (0.85 if first[-1] in "ae" else 0.2)
        home = home or rng.choice(self.places)
        taken = {q.job for q in self.cast}
        job = rng.choice([j for j in _JOBS if j not in taken] or _JOBS)
        p = _Person(first, rng.choice(_FAMILY_A) + rng.choice(_FAMILY_B), job, rng.choice(_TRAITS), she, home, home,
                    weight=weight)
        got = self.day - rng.randint(20, 900)
        p.items.append(self._item(f"from {_a(rng.choice(_TRADERS))} in {home.name}", got))
        self.cast.append(p)
        return p

    # -- choosing
    def pick(self, seq):
        return self.rng.choice(seq)

    def someone(self, *, not_: tuple[_Person, ...] = (), at: _Place | None = None, new: bool = False) -> _Person | None:
        """A weighted choice from the cast; only a `new` choice may be someone not yet introduced."""
        people = [p for p in self.cast if p not in not_ and (at is None or p.at is at) and (new or p.introduced)]
        return self.rng.choices(people, [p.weight for p in people])[0] if people else None

    def other(self, *not_: _Person) -> _Person:
        """Someone else, introducing a new character when everyone known is taken."""
        q = self.someone(not_=not_) or self.someone(not_=not_, new=True)
        if q is None:
            return not_[0]
        self.introduce(q)
        return q

    def introduce(self, p: _Person, quietly: bool = False) -> None:
        """Mark p as named from now on; unless `quietly`, the next line() is followed by p's intro."""
        if not p.introduced:
            p.introduced = True
            self.new_people.append(p.first)
            if not quietly:
                self.pending.append(p)

    def earlier(self) -> _Event:
        # recent events come back more often, but old ones are remembered too
        return self.events[-1 - min(int(self.rng.expovariate(0.4)), len(self.events) - 1)]

    def since(self, e: _Event) -> str:
        d = self.day - e.day
        return f"{number_words(d)} day{'s' if d != 1 else ''} since {e.label}" if d else f"only hours since {e.label}"

    # -- sentences
    def say(self, template: str, p: _Person, q: _Person | None = None, **slots: str) -> str:
        s = template.format_map(_Slots(self, p, q, slots))
        return s[0].upper() + s[1:]

    def line(self, key: str, p: _Person, q: _Person | None = None, **slots: str) -> None:
        """Write a random template of `_T[key]` (or `key` itself if it is a template), then any intros.

        A draw is redone if the sentence is not 6-30 words long, is already in the paragraph, or
        names the event that its time marker names; after three tries the marker is shortened."""
        for attempt in range(8):
            if attempt == 3 and "when" in slots:
                slots["when"] = self.when_short
            sl = _Slots(self, p, q, slots)
            template = key if " " in key else self.pick(_T[key])
            s = template.format_map(sl)
            s = s[0].upper() + s[1:]
            fresh = template not in self.templates and not any(e in self.when for e in sl.events)
            if fresh and 6 <= len(s.split()) <= 30:
                break
        self.templates.add(template)
        self.out.append(s)
        while self.pending:
            self.out.append(self.say(self.pick(_T["intro"]), self.pending.pop(0)))

    def event(self, kind: str, p: _Person, q: _Person | None = None, **slots: str) -> None:
        """Record what just happened, under a label later paragraphs use to refer back to it."""
        self.events.append(_Event(_LABELS[kind].format_map(_Slots(self, p, q, slots)), self.day))

    # -- time
    def advance(self) -> str:
        """Move the day counter forward and return the time marker that opens the paragraph
        (`when_short` is a shorter one that says the same, for sentences that would be too long)."""
        rng = self.rng
        if not self.recent:
            self.when_short = "in the first year"
            return self.say(self.pick(_T["first"]), self.cast[0]).lower()
        delta = rng.choices((0, 1, rng.randint(2, 6), rng.randint(7, 13), rng.randint(14, 40)), (12, 30, 30, 14, 14))[0]
        old, self.day = self.day, self.day + delta
        self.when_short = ("that same day", "the next day")[delta] if delta < 2 else f"{number_words(delta)} days later"
        season, year, last = season_of(self.day), ordinal_words(year_of(self.day)), self.events[-1]
        ago, day_in, n = self.day - last.day, self.day % DAYS_PER_SEASON + 1, number_words(delta)
        if season_of(old) != season:
            return self.pick((f"when the {season} of the {year} year came", f"early in the {season} of the {year} year",
                              f"in the first days of the {season} of the {year} year",
                              f"as the {season_of(old)} gave way to the {season} of the {year} year"))
        if delta == 0:
            return self.pick(("later that same day", "that evening", "in the afternoon", "meanwhile", "that night",
                              "a few hours later", "before the day was out", "at noon that day"))
        if ago == 1 and rng.random() < 0.6:
            return self.pick((f"on the morning after {last.label}", f"the day after {last.label}"))
        if 2 <= ago <= 30 and rng.random() < 0.3:
            return f"{number_words(ago)} days after {last.label}"
        if delta >= 7 and day_in > 75:
            return self.pick((f"by the end of the {season}", f"late in the {season}",
                              f"as the {season} drew to a close"))
        if delta >= 7 and rng.random() < 0.4:
            return f"on the {ordinal_words(day_in)} day of the {season}"
        if delta == 1:
            return self.pick(("the next morning", "on the following day", "at dawn the next day", "the day after",
                              "early the next morning", "the following evening"))
        if delta < 7:
            return self.pick((f"{n} days later", f"{n} days after that", f"after {n} days of rain",
                              f"after {n} quiet days"))
        if delta < 14:
            return self.pick(("a week later", "some days later", f"{n} days later", "after a quiet week",
                              "the week after"))
        return self.pick((f"{number_words(delta // 7)} weeks later", f"some {number_words(delta // 7)} weeks later",
                          f"in the middle of the {season}" if 30 < day_in < 60 else f"a few weeks into the {season}",
                          f"after {n} long days"))

    # -- episodes
    def episode(self) -> Episode:
        self.when = when = self.advance()
        self.out, self.new_people, self.templates = [], [], set()
        if not self.recent:  # the story opens with the two main characters meeting at home
            kind, p = "meet", self.cast[0]
        else:
            kinds = ["travel", "meet", "find", "lose", "work", "letter", "memory", "calamity", "season", "fair",
                     "newcomer", "wedding", "leave", "quarrel", "build", "illness"]
            weights = [14, 18, 9, 6, 10, 6, 6, 5, 3, 3, 3, 1, 2, 2, 2, 2]
            kind = self.rng.choices(kinds, [w / 4 if k in self.recent else w for k, w in zip(kinds, weights)])[0]
            p = self.someone(new=True)
        if kind != "newcomer":
            self.introduce(p)
        self.focus = p  # whom the detail sentences are about (a newcomer episode changes it)
        if getattr(self, "_" + kind)(when, p) is False:
            self._travel(when, p)
        p = self.focus
        self.recent = (self.recent + [kind])[-3:]
        target = min(8, max(3, len(self.out) + self.rng.choice((0, 0, 1, 1, 2, 3))))
        while len(self.out) < target and p in self.cast:  # details about the same character
            key = "colour_item" if p.items and self.rng.random() < 0.15 else "colour"
            self.line(key, p, self.other(p))
        return Episode(self.day, tuple(self.out[:8]), tuple(self.new_people))

    def _travel(self, when: str, p: _Person) -> None:
        src = p.at
        away = [q for q in self.places if q is not src]
        dst = p.home if src is not p.home and self.rng.random() < 0.4 else self.pick(away)
        days = self.rng.randint(1, 4)
        self.line("travel_start", p, dst=dst.name, when=when)
        self.line("travel_road", p, self.other(p), dst=dst.name, d=_days(days))
        self.day += days - 1
        p.at = dst
        host = self.someone(not_=(p,), at=dst, new=True)
        if host:
            self.introduce(host)
            self.line("travel_host", p, host, dst=dst.name, dlm=self.pick(dst.landmarks))
        else:
            self.line("travel_home" if dst is p.home else "travel_alone", p, dst=dst.name, kind=dst.kind,
                      dlm=self.pick(dst.landmarks))

    def _meet(self, when: str, p: _Person) -> None:
        q = self.someone(not_=(p,), at=p.at, new=True)
        came = q is None
        if came:
            q = self.someone(not_=(p,), new=True)
            came_from, q.at = q.at.name, p.at
        self.introduce(q)
        lm = self.pick(p.at.landmarks)
        self.line("meet_start", p, q, lm=lm, when=when)
        if came:
            self.line("meet_came", p, q, yfrom=came_from)
        topic = self.pick((self.earlier().label, f"the price of {self.pick(_GOODS)} in {self.pick(self.places).name}",
                           f"a debt of {number_words(self.rng.randint(3, 90))} silver pennies",
                           f"the {season_of(self.day)} {self.pick(_TOPICS)} in {p.at.name}"))
        self.line("meet_talk", p, q, topic=topic, lm=lm)
        self.line("meet_news", p, q)
        if q.items and self.rng.random() < 0.5:
            it = q.items.pop(self.rng.randrange(len(q.items)))
            p.items.append(it)
            it.origin, it.got_day = f"from {q.first} at {lm} in {p.at.name}", self.day
            self.line("meet_give", p, q, item=it.name)

    def _find(self, when: str, p: _Person) -> None:
        lm = self.pick(p.at.landmarks)
        lost = [it for it in self.lost if it.lost_at is p.at and it.lost_by is not p]
        if not lost:
            it = self._item(f"from {_a(self.pick(_TRADERS))} in {p.at.name}", self.day)
            p.items.append(it)
            self.line("find_new", p, item=it.name, lm=lm, when=when)
            self.line("find_detail", p, self.other(p), noun=it.noun, adj=it.adj)
            return
        it, owner = lost[0], lost[0].lost_by
        self.lost.remove(it)
        self.line("find_lost", p, owner, item=it.name, lm=lm, when=when)
        self.line("find_known", p, owner, noun=it.noun, ago=number_words(self.day - it.lost_day))
        it.lost_at = it.lost_by = None
        if owner in self.cast and self.rng.random() < 0.5:
            it.origin, it.got_day = f"back from {p.first}, who found it near {lm}", self.day
            owner.items.append(it)
            self.line("find_return", p, owner, item=it.name)
        else:
            it.origin, it.got_day = f"near {lm} in {p.at.name}", self.day
            p.items.append(it)
            self.line("find_keep", p, owner, noun=it.noun)

    def _lose(self, when: str, p: _Person) -> bool | None:
        if not p.items:
            return False
        it = p.items.pop(self.rng.randrange(len(p.items)))
        it.lost_at, it.lost_by, it.lost_day = p.at, p, self.day
        self.lost.append(it)
        lm = self.pick(p.at.landmarks)
        self.line("lose_start", p, item=it.name, lm=lm, when=when)
        self.line("lose_search", p, lm=lm, origin=it.origin, noun=it.noun, held=_days(self.day - it.got_day))
        self.line("lose_suspect", p, self.other(p), lm=lm, noun=it.noun)

    def _work(self, when: str, p: _Person) -> None:
        self.line("work_start", p, when=when)
        self.line("work_made", p)
        if self.rng.random() < 0.4:
            self.line("work_more", p)
        self.line("work_buyer", p, self.other(p))

    def _letter(self, when: str, p: _Person) -> bool | None:
        q = self.someone(not_=(p,))
        if q is None or q.at is p.at:
            return False
        for key in ("letter_start", "letter_body", "letter_end"):
            self.line(key, p, q, when=when)

    def _memory(self, when: str, p: _Person) -> None:
        self.line("memory_start", p, when=when)
        self.line("memory_since", p, self.other(p))

    def _story_event(self, kind: str, when: str, p: _Person, q: _Person | None = None, **slots: str) -> None:
        """A fixed three-sentence beat that becomes an event later paragraphs refer back to."""
        q = q or self.other(p)
        slots["lm"] = self.pick(p.at.landmarks)
        for template in _T[kind]:
            self.line(template, p, q, when=when, **slots)
        self.event(kind, p, q, **slots)

    def _quarrel(self, when: str, p: _Person) -> None:
        self._story_event("quarrel", when, p)

    def _build(self, when: str, p: _Person) -> None:
        self._story_event("build", when, p, thing=self.pick(_BUILDS))

    def _illness(self, when: str, p: _Person) -> None:
        self._story_event("illness", when, p)

    def _calamity(self, when: str, p: _Person) -> None:
        self._story_event(self.pick(_CALAMITIES), when, p)

    def _season(self, when: str, p: _Person) -> None:
        self._story_event(season_of(self.day), when, p)

    def _fair(self, when: str, p: _Person) -> bool | None:
        if any(e.label.startswith(f"the {season_of(self.day)} fair") and self.day - e.day < 60 for e in self.events):
            return False
        self.line("fair_start", p, when=when)
        self.line("fair_do", p, self.other(p))
        self.event("fair", p)

    def _newcomer(self, when: str, p: _Person) -> None:
        if self.rng.random() < 0.3:
            self.places.append(self._place())
        p = self.focus = self._person(self.pick(self.places))
        self.introduce(p, quietly=True)  # the first sentence is the introduction
        far = self._unique(lambda: self.pick(_PLACE_A) + self.pick(_PLACE_B))
        self.line("newcomer_start", p, far=far, when=when)
        self.line("newcomer_detail", p, self.other(p))
        self.event("newcomer", p)

    def _wedding(self, when: str, p: _Person) -> bool | None:
        q = self.someone(not_=(p,), at=p.at)
        if p.married or q is None or q.married or p.she == q.she:
            return False
        p.married = q.married = True
        self._story_event("wedding", when, p, q)

    def _leave(self, when: str, p: _Person) -> bool | None:
        if p.weight > 1.5 or len(self.cast) < 6 or not p.items:
            return False
        self._story_event("leave", when, p)
        self.cast.remove(p)


def _pair(sl: "_Slots", key: str) -> str:
    animal, noise = sl.story.pick(_ANIMALS)
    sl["animal"], sl["noise"] = _a(animal), noise
    return sl[key]


# How each slot is filled when the caller did not give it: a fresh draw for each sentence.
_FILL = dict(
    x=lambda sl: sl.p.first, x_full=lambda sl: f"{sl.p.first} {sl.p.last}",
    x_he=lambda sl: "she" if sl.p.she else "he", x_his=lambda sl: "her" if sl.p.she else "his",
    x_him=lambda sl: "her" if sl.p.she else "him",
    y=lambda sl: sl.q.first, yat=lambda sl: sl.q.at.name, yhome=lambda sl: sl.q.home.name,
    z=lambda sl: sl.story.other(sl.p, sl.q).first,
    place=lambda sl: sl.p.at.name, home=lambda sl: sl.p.home.name, lm=lambda sl: sl.story.pick(sl.p.at.landmarks),
    far=lambda sl: sl.story.pick([f for f in sl.story.places if f is not sl.p.at]).name,
    flm=lambda sl: sl.story.pick(_LANDMARKS),
    past=lambda sl: sl.event().label, since=lambda sl: sl.story.since(sl.event()),
    n=lambda sl: number_words(sl.story.rng.randint(2, 40)), m=lambda sl: number_words(sl.story.rng.randint(2, 9)),
    season=lambda sl: season_of(sl.story.day),
    season2=lambda sl: _SEASONS[(sl.story.day // DAYS_PER_SEASON + 1) % 4],
    dayth=lambda sl: ordinal_words(sl.story.day % DAYS_PER_SEASON + 1),
    year=lambda sl: ordinal_words(year_of(sl.story.day)),
    weather=lambda sl: sl.story.pick(_WEATHER[season_of(sl.story.day)]), river=lambda sl: sl.story.river,
    food=lambda sl: sl.story.pick(_FOODS), goods=lambda sl: sl.story.pick(_GOODS),
    box=lambda sl: sl.story.pick(_CONTAINERS), a_box=lambda sl: _a(sl.story.pick(_CONTAINERS)),
    dir=lambda sl: sl.story.pick(_DIRECTIONS), route=lambda sl: sl.story.pick(_ROUTES),
    sleep=lambda sl: sl.story.pick(_SLEEP),
    hiding=lambda sl: sl.story.pick(_HIDING), trader=lambda sl: _a(sl.story.pick(_TRADERS)),
    source=lambda sl: sl.story.pick(("well", "river", "pond", "horse trough")),
    item=lambda sl: sl.p.items[-1].name if sl.p.items else "a purse of pennies",
    origin=lambda sl: sl.p.items[-1].origin if sl.p.items else "long ago",
    held=lambda sl: _days(sl.story.day - sl.p.items[-1].got_day) if sl.p.items else "years",
    book=lambda sl: sl.story.pick(_BOOKS).format_map(sl),
    nature=lambda sl: sl.story.pick(_NATURE[season_of(sl.story.day)]), feeling=lambda sl: sl.story.pick(_FEELINGS),
    chore=lambda sl: sl.story.pick(_CHORES).format_map(sl),
    Trader=lambda sl: _a(sl.story.pick(_TRADERS)).capitalize(), yhe=lambda sl: "she" if sl.q.she else "he",
    job=lambda sl: sl.p.job[0], a_job=lambda sl: _a(sl.p.job[0]), shop=lambda sl: sl.p.job[1],
    products=lambda sl: sl.p.job[2], made=lambda sl: sl.p.job[3],
    trait=lambda sl: sl.p.trait, a_trait=lambda sl: _a(sl.p.trait), woman=lambda sl: "woman" if sl.p.she else "man",
    animal=lambda sl: _pair(sl, "animal"), noise=lambda sl: _pair(sl, "noise"),
)


class _Slots(dict):
    """format_map mapping for one sentence: the caller's slots, then `_FILL` draws, each made once."""

    def __init__(self, story: _Story, p: _Person, q: _Person | None, slots: dict[str, str]):
        super().__init__(slots)
        self.story, self.p, self.q = story, p, q or p
        self.events: list[str] = []  # labels of the earlier events this sentence names

    def event(self) -> _Event:
        e = self.story.earlier()
        self.events.append(e.label)
        return e

    def __missing__(self, key: str) -> str:
        self[key] = value = _FILL[key](self)
        return value


def episodes(seed: int) -> Iterator[Episode]:
    """The endless story for `seed`, one paragraph at a time, in chronological order."""
    story = _Story(seed)
    while True:
        yield story.episode()


def narrative(seed: int, n_words: int) -> tuple[str, str]:
    """(title, text): a story of at least n_words whitespace-separated words (and less than n_words + 200), deterministic in (seed, n_words); different seeds give different casts and stories."""
    story = _Story(seed)
    paragraphs: list[str] = []
    total = 0
    while total < n_words or not paragraphs:
        kept: list[str] = []
        for s in story.episode().sentences:
            if total >= n_words and len(kept) >= 3:  # the last paragraph stops early, but keeps 3 sentences
                break
            kept.append(s)
            total += len(s.split())
        paragraphs.append(" ".join(kept))
    return story.title, "\n\n".join(paragraphs)
