"""Short news-like articles: M4LE's offline default source.

`news_articles(seed, n)` slot-fills wire-story templates (a lead, then details, a quote) from the word
banks below, deterministically from `seed`. Topics are balanced round-robin. Titles and summaries are
paraphrases of the story, never substrings of its text, so semantic questions ("the article whose
summary is ...") are not string matching. Each article's main entity (a person or organisation) and
its extractive answer occur in no other article of the same call (names and numbers are drawn
without replacement; the banks allow about 1,100 articles per call).
"""

from __future__ import annotations

import random

TOPICS: tuple[str, ...] = ("business", "sports", "science", "health", "politics", "technology", "culture", "weather")

FIRST = ("Ada Amara Bruno Carmen Dmitri Elena Farid Greta Hugo Ingrid Jonas Kenji Leila Marco Nadia Oskar "
         "Priya Rafael Sofia Tomas Ursula Viktor Wanda Xavier Yara Zoran Anika Bernard Chloe Dario Esther "
         "Felix Gloria Henrik Imani Julian Kasia Lucas Maren Nikolai Olga Pablo Rosa Stefan Tariq Vera "
         "Willem Yusuf Zara Camille").split()
LAST = ("Okafor Lindqvist Moreau Tanaka Castillo Novak Haddad Brennan Kowalski Mensah Varga Ortega Petrov "
        "Nakamura Fischer Delgado Abara Quint Sorensen Rahman Whitlock Ferreira Ivanova Kimura Lambert Marsh "
        "Nilsen Oduya Pereira Rossi Sato Thorne Ueda Vance Weber Yilmaz Zeller Achterberg Bianchi Cortez "
        "Duval Eriksen Galloway Holm Iqbal Jansen Keller Laurent Mbeki Novotny").split()
STEM_A = ("Ash Bright Cedar Dun Elm Fair Glen Haw Iron Kings Lark Mill North Oak Pine Quarry Red Silver "
          "Stone Thorn West Wolf Amber Black Clear Deer East Fox Gold Hazel Ivy Lake Maple New Orch Ray "
          "Rose Salt Sun Wind").split()
STEM_B = ("field ford gate haven moor brook ridge vale wick ton mere stead hurst bury dale well port ham by "
          "holt combe wood shaw worth ley mouth side cliff bank hill crest marsh").split()
CITIES = ("Lisbon Denver Osaka Nairobi Leeds Porto Lyon Perth Quebec Austin Malmo Bergen Seville Turin "
          "Krakow Tampere Adelaide Halifax Dundee Cork Bremen Gdansk Valencia Graz Ghent Utrecht Tucson "
          "Madison Boise Hobart").split()
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORG_TYPES = {
    "sports": ("Rovers", "United", "Athletic", "Wanderers", "Rangers", "Harriers"),
    "business": ("Systems", "Foods", "Logistics", "Holdings", "Energy", "Textiles", "Motors"),
    "science": ("Institute", "Research Centre", "Observatory", "Laboratory"),
    "health": ("General Hospital", "Health Trust", "Medical Centre", "Infirmary"),
    "politics": ("Council", "Assembly", "Civic League", "Alliance"),
    "technology": ("Labs", "Software", "Robotics", "Networks", "Digital"),
    "culture": ("Theatre", "Gallery", "Orchestra", "Arts Society", "Museum"),
    "weather": ("Weather Service", "Flood Authority", "Met Bureau", "Emergency Agency"),
}
FILLERS = (
    "Further details are expected to be released in the coming days, and officials promised to answer questions from the public.",
    "Local media reported the news earlier in the day, and reaction from residents and commentators was swift and mixed.",
    "The announcement drew wide attention online within hours, with many people sharing their own experiences and opinions.",
    "Officials said they would provide a fuller update next week once all of the relevant information had been gathered.",
    "Observers said the coming weeks would show whether the change lasts or fades once the initial attention moves elsewhere.",
    "Neither side responded to further requests for comment on the matter by the time this report was published.",
)
BACKGROUND = {  # one always follows the details: context that carries no names or answers
    "sports": ("The season has been unusually tight, with only a handful of points separating the top clubs and every fixture carrying weight.",
               "Supporters in {C} have packed the stands all year, and ticket demand has outstripped supply for most home fixtures."),
    "business": ("Companies across the sector have been under pressure from higher borrowing costs, uneven consumer spending and rising energy prices.",
                 "Economists in {C} say firms that cut costs early are now better placed than rivals that waited for conditions to improve."),
    "science": ("The work adds to a growing body of research that depends on long-term funding, careful field work and international cooperation.",
                "Scientists not involved in the project said the results were convincing but would need to be confirmed by other groups."),
    "health": ("Health services in the region have been stretched in recent years, with long waiting lists and staff shortages in several departments.",
               "Doctors in {C} said public awareness was key and urged anyone with concerns to speak to their family doctor."),
    "politics": ("The issue has dominated local debate for months, with opinion polls showing voters split roughly down the middle.",
                 "Political analysts in {C} said the outcome could shape the national conversation well beyond the region itself."),
    "technology": ("The sector has attracted heavy investment over the past few years, although investors have recently become more selective.",
                   "Industry analysts in {C} said competition was fierce and that only products solving real problems would survive."),
    "culture": ("Cultural venues have worked hard to win back audiences in recent years, with many offering cheaper tickets and longer opening hours.",
                "Critics in {C} said the project showed how much appetite there is for ambitious work outside the largest capitals."),
    "weather": ("Forecasters say extreme weather events have become more frequent in the region, putting pressure on roads, homes and emergency services.",
                "Residents of {C} were advised to follow official channels for updates and to avoid unnecessary journeys."),
}

# A kind: (topic, name, entity slot, lead, details, quote, title, summary, [(answer slot, question), ...]).
# Variants are separated by "|"; a detail starting with "!" is always included. Answer slots (N1, Q)
# occur only in their own required detail, so each answer is in the text exactly once.
KINDS = [
    ("sports", "match-result", "O",
     "{O} beat {O2} {a}-{b} in {C} on {day}, extending their unbeaten run to {x} matches.|"
     "{O} claimed a {a}-{b} victory over {O2} at their home ground in {C} on {day} night.",
     ["!A crowd of {N1} watched the game, the largest attendance at the stadium this season.",
      "!The decisive goal came after {m} minutes from striker {Q}, who had come on as a substitute.",
      "{O2} had taken an early lead through a header but failed to build on it after the break.",
      "The visitors finished the match with ten players after a second booking for their captain.",
      "The result moves the home side into the top {a} of the table with {x} games left to play."],
     "\"We stayed patient and trusted the plan,\" said head coach {R}.|"
     "\"It was not pretty, but the points are what matter,\" coach {R} told reporters after the game.",
     "{O} edge past {O2} thanks to late winner|Late strike hands {O} home win over {O2}",
     "{O} defeated {O2} at home in {C}, with a substitute scoring the late winner in front of a season-high crowd.",
     [("N1", "How many spectators watched {O} play {O2}?"), ("Q", "Who scored the decisive goal for {O} against {O2}?")]),
    ("sports", "transfer", "P",
     "{P}, the {age}-year-old midfielder, has completed a move from {O2} to {O}, the club confirmed in {C} on {day}.|"
     "{O} have signed midfielder {P} from {O2} on a {a}-year contract, the club announced on {day}.",
     ["!Club records show {Ps} made {N1} passes in the league last season, more than any other player in the division.",
      "!The deal was negotiated by agent {Q}, who also represents several international players.",
      "{Ps} scored {x} goals in {a} seasons at {O2} and was a regular in the starting line-up.",
      "Medical tests were completed in {C2} earlier in the week without any concerns.",
      "The fee was reported to be about {amt} million, with add-ons that could raise it further."],
     "\"This is the right club for me at the right time,\" {Ps} said.|"
     "\"I am excited to get started and meet the supporters,\" {Ps} told the club's website.",
     "{O} land midfielder {P} in deal with {O2}|Midfielder {P} swaps {O2} for {O}",
     "Midfielder {P} has left {O2} and joined {O} for an undisclosed sum after passing a medical.",
     [("Q", "Who negotiated the transfer of {P} to {O}?"), ("N1", "How many league passes did {P} make last season?")]),
    ("sports", "injury", "P",
     "{O} forward {P} will miss up to {x} weeks with a hamstring injury, the club said in {C} on {day}.|"
     "{P} of {O} has been ruled out for around {x} weeks after injuring a hamstring in training on {day}.",
     ["!The injury was diagnosed by team doctor {Q} after a scan at a clinic in {C2}.",
      "!{Ps} had played {N1} minutes across all competitions this season before the setback.",
      "The {age}-year-old was forced off during a drill and did not return to the session.",
      "{O} face {O2} next weekend and will have to reshuffle their attack without their top scorer.",
      "The club said the player would begin rehabilitation at once and return to light training in a month."],
     "\"It is frustrating, but I will come back stronger,\" {Ps} wrote on social media.|"
     "\"We will not rush him back, whatever the table says,\" manager {R} said.",
     "Hamstring problem sidelines {O} striker {P} for weeks|{O} without {P} as hamstring injury strikes",
     "{P} of {O} faces several weeks out after a training-ground hamstring injury, leaving the club short of attacking options.",
     [("Q", "Who diagnosed the injury of {P}?"), ("N1", "How many minutes had {P} played this season before getting hurt?")]),
    ("sports", "record", "P",
     "Sprinter {P} set a national record in the 200 metres at a meeting in {C} on {day}, clocking a time that stunned the crowd.|"
     "{P} broke the national 200 metres record in {C} on {day}, running in the colours of {O}.",
     ["!The previous mark had stood since {yr} and was held by {Q}.",
      "!Organisers said {N1} tickets were sold for the meeting, a record for the venue.",
      "{Ps}, who is {age}, trains with {O} and has improved steadily over the past {a} seasons.",
      "A warm evening and a fast track helped produce personal bests throughout the programme.",
      "The run makes {Ps} a leading contender for selection for next summer's championships."],
     "\"I knew I had something special in my legs tonight,\" {Ps} said.|"
     "\"All the work in the winter paid off,\" {Ps} told reporters after the race.",
     "{P} smashes long-standing national sprint mark|New national best for sprinter {P} over 200m",
     "Sprinter {P} of {O} lowered the national 200 metres record in {C}, erasing a mark that had survived since {yr}.",
     [("Q", "Who held the national 200 metres record before {P}?"), ("N1", "How many tickets were sold for the meeting where {P} ran?")]),
    ("business", "earnings", "O",
     "{O} reported a {pct} percent rise in quarterly profit on {day}, beating analyst forecasts, the {C}-based company said.|"
     "Shares in {O} climbed after the {C}-based firm said on {day} that quarterly profit rose {pct} percent.",
     ["!The company said it now employs {N1} people after a year of steady hiring.",
      "!Chief financial officer {Q} said the results reflected tighter cost control.",
      "Revenue reached {amt} billion, helped by strong demand in its export markets.",
      "The board proposed a higher dividend and announced a modest share buyback.",
      "Analysts had expected weaker figures after a difficult previous quarter."],
     "\"We are seeing demand return across our core markets,\" chief executive {R} said.|"
     "\"This was a disciplined quarter for every part of the business,\" said chief executive {R}.",
     "Profit jump at {O} beats market expectations|{O} earnings surge on export demand",
     "{O} posted a sharp increase in quarterly profit, ahead of analyst estimates, as exports grew and costs were kept in check.",
     [("N1", "How many people does {O} employ?"), ("Q", "Who is the chief financial officer of {O}?")]),
    ("business", "merger", "O",
     "{O} has agreed to buy rival {O2} for {amt} billion, the companies announced in {C} on {day}.|"
     "{O} will acquire {O2} in a deal worth {amt} billion, the two firms said on {day}.",
     ["!The combined group will have {N1} employees across {x} countries.",
      "!The talks were led by {Q}, head of strategy at the buyer.",
      "Regulators in several markets must approve the deal before it can close next year.",
      "Shares in {O2} jumped {pct} percent on the news, while the buyer's stock was little changed.",
      "The companies expect savings from merging their distribution networks."],
     "\"Together we can compete on a global scale,\" said {R}, the buyer's chief executive.",
     "{O} strikes deal to take over rival {O2}|Takeover of {O2} by {O} announced",
     "{O} is purchasing competitor {O2} in an agreement valued at {amt} billion that still needs approval from regulators.",
     [("N1", "How many employees will the group formed by {O} and {O2} have?"), ("Q", "Who led the takeover talks for {O}?")]),
    ("business", "new-plant", "O",
     "{O} opened a new factory on the outskirts of {C} on {day}, its largest investment in a decade.|"
     "A new plant run by {O} near {C} began production on {day}, the company said.",
     ["!The site is expected to create {N1} jobs over the next three years.",
      "!Construction was overseen by project director {Q}.",
      "The plant cost about {amt} million and runs partly on solar power.",
      "Local officials said the investment would revive an area hit by earlier closures.",
      "The company plans to double output at the site by the end of next year."],
     "\"This is a long-term commitment to the region,\" said {R}, the chief operating officer.",
     "{O} bets on {C} with major new plant|New production site for {O} brings work to {C}",
     "{O} has started production at a large new facility near {C}, an investment officials hope will bring jobs back to the area.",
     [("N1", "How many jobs is the new site of {O} expected to create?"), ("Q", "Who oversaw construction of the plant of {O}?")]),
    ("business", "new-chief", "P",
     "{O} named {P} as its new chief executive on {day}, ending a months-long search, the {C}-based company said.|"
     "{P} will take over as chief executive of {O}, the company announced in {C} on {day}.",
     ["!{Ps} replaces {Q}, who is retiring after {x} years with the firm.",
      "!{Ps} previously ran a division with {N1} staff at {O2}.",
      "The appointment takes effect at the start of next month.",
      "Investors welcomed the news, sending shares up {pct} percent in early trading.",
      "The company has struggled with falling sales and a costly restructuring."],
     "\"I am honoured to lead such a talented team,\" {Ps} said in a statement.",
     "{O} picks {P} to lead the company|New boss for {O} as {P} steps up",
     "{P}, formerly of {O2}, has been appointed to run {O} after a long search for a successor to the retiring chief.",
     [("Q", "Whom does {P} replace at the head of {O}?"), ("N1", "How many staff did {P} manage at {O2}?")]),
    ("science", "new-species", "P",
     "Researchers led by {P} at the {O} have identified a new species of deep-sea fish, they reported on {day}.|"
     "A team from the {O} headed by {P} has discovered a previously unknown species of deep-sea fish.",
     ["!The specimens were collected at a depth of {N1} metres off the coast near {C}.",
      "!The species was named in honour of {Q}, a marine biologist who died last year.",
      "The fish is about {x} centimetres long and produces its own light.",
      "The findings were published in a peer-reviewed journal this week.",
      "The team spent {a} months at sea aboard a research vessel."],
     "\"Every expedition to the deep ocean turns up something surprising,\" {Ps} said.",
     "Team of {P} finds unknown fish in ocean depths|New glowing fish species described by {P} and colleagues",
     "Scientists under {P} have described a glowing deep-sea fish new to science, gathered during a long expedition off {C}.",
     [("N1", "At how many metres deep were the fish specimens of the team of {P} collected?"),
      ("Q", "In whose honour was the fish found by the team of {P} named?")]),
    ("science", "satellite", "O",
     "The {O} launched a small weather satellite from a site near {C} on {day}, its first mission to orbit.|"
     "A satellite built by the {O} reached orbit on {day} after lifting off from near {C}.",
     ["!The satellite weighs {N1} grams and is about the size of a shoebox.",
      "!Mission controller {Q} confirmed that the first signals were received within an hour.",
      "It will measure cloud moisture for at least {a} years.",
      "The project cost about {amt} million, funded largely by public grants.",
      "Students helped assemble the spacecraft over {x} months."],
     "\"Hearing that first signal was the best moment of my career,\" said project lead {R}.",
     "{O} puts first satellite into orbit|First orbital mission succeeds for {O}",
     "The {O} has placed its first satellite in orbit, a compact spacecraft designed to study moisture in clouds.",
     [("N1", "How many grams does the satellite of the {O} weigh?"), ("Q", "Who confirmed the first signals from the satellite of the {O}?")]),
    ("science", "glacier-study", "P",
     "Glaciers in the northern mountains are shrinking faster than expected, according to a study led by {P} of the {O} published on {day}.|"
     "A study by {P} at the {O} finds that mountain glaciers are retreating faster than models predicted.",
     ["!The team analysed {N1} satellite images taken over the past two decades.",
      "!Co-author {Q} said the loss had accelerated since {yr}.",
      "Ice cover has fallen by about {pct} percent in that period.",
      "The researchers warned that water supplies downstream could be affected.",
      "Field measurements near {C} confirmed the satellite results."],
     "\"The pace of change surprised even us,\" {Ps} said.",
     "Mountain ice vanishing at alarming pace, says {P}|Study by {P} warns of rapid glacier retreat",
     "Research by {P} shows northern glaciers losing ice more quickly than forecasts suggested, threatening water supplies in the valleys.",
     [("N1", "How many satellite images did the team of {P} analyse?"), ("Q", "Which co-author of the glacier study by {P} was quoted?")]),
    ("science", "excavation", "P",
     "Archaeologist {P} and a team from the {O} have unearthed a Bronze Age settlement near {C}, they announced on {day}.|"
     "A Bronze Age settlement has been uncovered near {C} by a team from the {O} under archaeologist {P}.",
     ["!Excavators recovered {N1} pottery fragments from the site.",
      "!The site was first spotted by local farmer {Q} while ploughing a field.",
      "The settlement includes the remains of at least {a} roundhouses.",
      "Radiocarbon dating of charred grain will help pin down when the houses were occupied.",
      "Work will continue for another season before the site is covered again."],
     "\"It is rare to find a village this well preserved,\" {Ps} said.",
     "Ancient village found by {P} near {C}|Bronze Age homes revealed in dig led by {P}",
     "A dig directed by {P} has revealed a well-preserved Bronze Age village close to {C}, including several roundhouses and many finds.",
     [("N1", "How many pottery fragments were recovered at the site excavated by {P}?"), ("Q", "Who first spotted the settlement excavated by {P}?")]),
    ("health", "drug-trial", "P",
     "A new drug for migraine reduced attacks by {pct} percent in a clinical trial led by {P} of the {O}, results released on {day} showed.|"
     "Results published on {day} by {P} of the {O} show a new migraine drug cut attacks by {pct} percent.",
     ["!The trial enrolled {N1} patients at clinics in {C} and {C2}.",
      "!The data were checked by independent statistician {Q}.",
      "Side effects were mild and mostly limited to tiredness.",
      "The drug is taken once a month as an injection.",
      "Regulators could review the treatment as early as next year."],
     "\"For many patients this could change daily life,\" {Ps} said.",
     "Migraine treatment shows promise in trial run by {P}|{P} reports fewer migraine attacks with new drug",
     "A trial directed by {P} found that a monthly migraine injection substantially reduced the number of attacks, with only mild side effects.",
     [("N1", "How many patients were enrolled in the migraine trial led by {P}?"), ("Q", "Who checked the data of the migraine trial led by {P}?")]),
    ("health", "outbreak", "O",
     "Health officials at {O} reported an outbreak of measles in {C} on {day} and urged parents to check their children's vaccinations.|"
     "A measles outbreak has been confirmed in {C}, officials at {O} said on {day}.",
     ["!So far {N1} cases have been confirmed, most of them in young children.",
      "!The first case was identified by family doctor {Q} at a clinic in the city centre.",
      "Vaccination rates in the area have fallen by {pct} percent in recent years.",
      "Extra vaccination sessions will run over the next {a} weeks.",
      "Schools have been asked to report any suspected cases immediately."],
     "\"Measles spreads quickly, but it is preventable,\" said {R}, the regional health director.",
     "Measles cases rise in {C}, warns {O}|{O} urges vaccination as measles spreads",
     "{O} has warned of a measles outbreak in {C}, mostly affecting young children, and is offering extra vaccination sessions.",
     [("N1", "How many measles cases have been confirmed according to {O}?"), ("Q", "Who identified the first measles case reported by {O}?")]),
    ("health", "new-ward", "O",
     "{O} opened a new children's ward in {C} on {day} after a fundraising campaign that lasted {a} years.|"
     "A new children's ward at {O} in {C} welcomed its first patients on {day}.",
     ["!Donors contributed {N1} individual gifts to the campaign.",
      "!The ward was designed with help from paediatric nurse {Q}.",
      "It has {x} beds and a play area for young patients.",
      "The total cost was about {amt} million.",
      "Families can stay overnight in rooms next to the ward."],
     "\"Children deserve a place to heal that feels less like a hospital,\" said chief executive {R}.",
     "Children's ward opens at {O} after long appeal|{O} unveils new space for young patients",
     "After years of fundraising, {O} has opened a purpose-built ward for children in {C}, with family rooms and a play area.",
     [("N1", "How many individual gifts did donors give to the ward campaign of {O}?"), ("Q", "Which nurse helped design the new ward at {O}?")]),
    ("health", "sleep-study", "P",
     "People who walk for at least half an hour a day sleep better, according to a study by {P} of the {O} published on {day}.|"
     "A daily half-hour walk improves sleep, a study led by {P} at the {O} reported on {day}.",
     ["!The researchers followed {N1} adults for {a} years.",
      "!The data were analysed by statistician {Q}.",
      "Participants who walked regularly reported {pct} percent fewer nights of poor sleep.",
      "The effect held regardless of age or body weight.",
      "The authors cautioned that the study shows an association, not proof of cause."],
     "\"A daily walk is one of the simplest things anyone can do,\" {Ps} said.",
     "Daily walking linked to better sleep, {P} finds|Study by {P} ties regular walks to restful nights",
     "Research led by {P} suggests that adults who take a daily half-hour walk enjoy noticeably better sleep than those who do not.",
     [("N1", "How many adults were followed in the sleep study by {P}?"), ("Q", "Who analysed the data in the sleep study by {P}?")]),
    ("politics", "election", "P",
     "{P} won the mayoral election in {C} on {day}, defeating the incumbent after a close race.|"
     "Voters in {C} elected {P} as mayor on {day}, ending the incumbent's {a}-term run.",
     ["!{Ps} won by a margin of {N1} votes, according to official results.",
      "!The defeated incumbent, {Q}, conceded shortly after midnight.",
      "Turnout was {pct} percent higher than at the previous election.",
      "{Ps}, who is {age}, campaigned on housing and public transport.",
      "{Ps} stood as the candidate of the {O}, a group formed only a few years ago by local residents."],
     "\"This city voted for change, and we will deliver it,\" {Ps} told supporters.",
     "{P} ousts incumbent to become mayor of {C}|{C} chooses {P} as its new mayor",
     "{P} has been elected mayor of {C}, unseating the sitting mayor after a campaign focused on housing and transport.",
     [("N1", "By how many votes did {P} win the mayoral election?"), ("Q", "Who was the incumbent defeated by {P}?")]),
    ("politics", "new-law", "P",
     "Parliament approved a bill on {day} to ban single-use plastic bags, a measure championed by environment minister {P}.|"
     "A ban on single-use plastic bags, pushed by environment minister {P}, passed parliament on {day}.",
     ["!A public petition supporting the ban gathered {N1} signatures.",
      "!The bill was drafted with the help of legal adviser {Q}.",
      "Shops will have {a} years to phase out the bags.",
      "Retailers who break the rules could face fines, and campaigners from {C} welcomed the vote.",
      "Opposition members argued the timeline was too short for small businesses."],
     "\"This is a victory for our rivers and coastlines,\" {Ps} said after the vote.",
     "Lawmakers back plastic bag ban pushed by {P}|{P} wins vote on ending single-use bags",
     "A ban on single-use plastic bags promoted by minister {P} has cleared parliament, giving shops several years to adapt.",
     [("N1", "How many signatures did the petition backing the ban of {P} gather?"), ("Q", "Who helped draft the plastic bag bill of {P}?")]),
    ("politics", "protest", "O",
     "Thousands marched through central {C} on {day} in a protest organised by the {O} against planned cuts to bus services.|"
     "The {O} led a march through central {C} on {day} against planned cuts to bus services.",
     ["!Police estimated the crowd at {N1} people.",
      "!The march was led by union organiser {Q}.",
      "The council plans to reduce services on {x} routes next year.",
      "Traffic was diverted for several hours but no arrests were reported.",
      "Council leader {R} said the cuts were needed to balance the budget."],
     "\"Buses are a lifeline, not a luxury,\" one protester said as the march reached the town hall.",
     "{O} leads mass march over bus cuts in {C}|Bus cuts spark street protest called by {O}",
     "The {O} organised a large demonstration in {C} against the council's plan to cut bus routes, with no arrests reported.",
     [("N1", "How many people did police estimate joined the march of the {O}?"), ("Q", "Who led the march organised by the {O}?")]),
    ("politics", "state-visit", "P",
     "Foreign minister {P} arrived in {C} on {day} for talks on trade and energy, the first such visit in {x} years.|"
     "Talks on trade and energy began in {C} on {day} as foreign minister {P} arrived for a two-day visit.",
     ["!The two countries traded goods worth {N1} million last year.",
      "!{Ps} held a private meeting with trade envoy {Q}.",
      "The talks are expected to focus on gas supplies and port access.",
      "Both sides said they hoped to sign an agreement before the end of the year.",
      "Security was tight around the venue, with several streets closed."],
     "\"We have more that unites us than divides us,\" {Ps} told reporters.",
     "{P} travels to {C} for trade and energy talks|Trade on the agenda as {P} visits {C}",
     "{P} is in {C} for the first ministerial talks in years, aiming to agree terms on trade and energy supplies.",
     [("N1", "How many millions worth of goods were traded last year, as noted during the visit of {P}?"),
      ("Q", "Who did {P} meet privately during the visit?")]),
    ("technology", "product-launch", "O",
     "{O} unveiled a foldable laptop at an event in {C} on {day}, betting that users want larger screens in smaller bags.|"
     "A foldable laptop from {O} was shown to the public for the first time in {C} on {day}.",
     ["!The company said it had received {N1} pre-orders within the first day.",
      "!The device was designed by a team under engineer {Q}.",
      "It weighs just over a kilogram and the battery lasts about {x} hours.",
      "The laptop will go on sale in {a} countries next month.",
      "Reviewers praised the screen but questioned the high price."],
     "\"We wanted a computer that disappears into your bag,\" chief executive {R} said.",
     "{O} shows off folding laptop|Foldable computer from {O} aims to shrink the office",
     "{O} has revealed a laptop with a folding screen, which drew strong early demand despite doubts over its price.",
     [("N1", "How many pre-orders did {O} receive on the first day?"), ("Q", "Who led the team that designed the laptop of {O}?")]),
    ("technology", "data-breach", "O",
     "{O} said on {day} that hackers had gained access to its customer database, forcing it to shut down some services in {C}.|"
     "Hackers broke into the customer database of {O}, the {C} company disclosed on {day}.",
     ["!The company said the records of {N1} customers may have been exposed.",
      "!The breach was detected by security analyst {Q} during a routine check.",
      "Passwords were stored in encrypted form and are unlikely to have been read.",
      "Services were restored after about {x} hours.",
      "Data protection authorities have been informed."],
     "\"We are deeply sorry for the disruption this has caused,\" the company said in a statement.",
     "Hackers breach customer records at {O}|{O} hit by data breach, services disrupted",
     "A security breach at {O} may have exposed customer information, prompting a temporary shutdown of services and a report to regulators.",
     [("N1", "How many customers may have had records exposed in the breach at {O}?"), ("Q", "Who detected the breach at {O}?")]),
    ("technology", "funding-round", "O",
     "{C}-based start-up {O} raised {amt} million on {day} to expand its app that helps farmers predict crop yields.|"
     "{O}, a start-up from {C} whose app predicts crop yields, raised {amt} million on {day}.",
     ["!The app is already used by {N1} farms, the company said.",
      "!The funding round was led by investor {Q}.",
      "The company was founded {a} years ago by two former agronomy students.",
      "It plans to hire {x} engineers over the next year.",
      "The software combines satellite data with local weather records."],
     "\"Farmers are ready for tools that save them time and money,\" co-founder {R} said.",
     "Crop forecasting app maker {O} secures fresh funding|Investors back farm software maker {O}",
     "{O}, which makes a yield-prediction app for farmers, has secured new investment to grow its engineering team.",
     [("N1", "How many farms use the app of {O}?"), ("Q", "Who led the funding round of {O}?")]),
    ("technology", "robot-demo", "P",
     "Engineer {P} of {O} demonstrated a robot that sorts household recycling at a trade fair in {C} on {day}.|"
     "A recycling robot built by engineer {P} of {O} was put through its paces at a trade fair in {C} on {day}.",
     ["!During the demonstration the robot sorted {N1} items without a single error.",
      "!The project received early support from city recycling manager {Q}.",
      "The machine uses cameras and a suction arm to pick out plastics, cans and paper.",
      "{Ps} has been working on the prototype for {a} years.",
      "A pilot at a recycling plant is planned for next spring."],
     "\"Most of what we throw away can be reused if it is sorted properly,\" {Ps} said.",
     "Recycling robot built by {P} wows trade fair|{P} demonstrates machine that sorts household waste",
     "{P} showed off a recycling robot that uses cameras and a suction arm to separate waste, with a plant trial planned.",
     [("N1", "How many items did the robot of {P} sort during the demonstration?"), ("Q", "Who gave early support to the robot project of {P}?")]),
    ("culture", "exhibition", "O",
     "The {O} in {C} opened an exhibition of early photography on {day}, bringing together works from private collections.|"
     "An exhibition of early photography opened at the {O} in {C} on {day}.",
     ["!The show includes {N1} prints, many of them never displayed in public.",
      "!It was curated by {Q}, who spent {a} years tracing the images.",
      "Highlights include portraits of dock workers and street markets.",
      "Entry is free on the first Sunday of every month.",
      "The exhibition runs until the end of the year."],
     "\"These pictures show ordinary lives that history books ignore,\" director {R} said.",
     "Forgotten early photographs go on show at {O}|{O} celebrates pioneers of the camera",
     "The {O} has launched a show of early photographs drawn from private collections, featuring portraits of workers and markets.",
     [("N1", "How many prints does the photography show at the {O} include?"), ("Q", "Who curated the photography show at the {O}?")]),
    ("culture", "book-prize", "P",
     "Novelist {P} won the national fiction prize on {day} for a novel about a family of lighthouse keepers, judges announced in {C}.|"
     "Judges in {C} gave the national fiction prize to {P} on {day} for a novel about lighthouse keepers.",
     ["!The novel has sold {N1} copies since publication, according to the publisher.",
      "!The judging panel was chaired by critic {Q}.",
      "{Ps}, who is {age}, wrote the book over {a} years while working as a teacher.",
      "The prize includes a cash award and a translation grant.",
      "Five other books were on the shortlist."],
     "\"I wrote it for my grandmother, who kept a light for forty years,\" {Ps} said.",
     "Lighthouse family saga earns {P} fiction prize|{P} takes top literary award",
     "{P} has been awarded the national fiction prize for a novel following a lighthouse-keeping family, chosen from a shortlist of six.",
     [("N1", "How many copies has the prize-winning novel by {P} sold?"), ("Q", "Who chaired the panel that chose the novel by {P}?")]),
    ("culture", "festival", "O",
     "The {O} opened its annual summer festival in {C} on {day} with an outdoor concert.|"
     "An outdoor concert in {C} on {day} launched the annual summer festival of the {O}.",
     ["!Organisers said {N1} tickets had been sold before the opening night.",
      "!This year's programme was put together by artistic director {Q}.",
      "The festival runs for {x} days and features performers from {a} countries.",
      "Several events are free, including street theatre in the old town.",
      "Extra trains will run in the evenings to help visitors get home."],
     "\"We wanted a programme that brings the whole city outside,\" festival chair {R} said.",
     "Summer festival of {O} kicks off with open-air show|{O} launches summer season under the stars",
     "The {O} has begun its yearly summer festival in {C}, opening with an open-air concert and offering free street events.",
     [("N1", "How many tickets had the {O} sold before opening night?"), ("Q", "Who put together the festival programme of the {O}?")]),
    ("culture", "album", "P",
     "Singer {P} released a new album on {day}, the first in {a} years, and announced a tour starting in {C}.|"
     "A new album from singer {P}, the first in {a} years, came out on {day} alongside a tour beginning in {C}.",
     ["!The first single has been streamed {N1} thousand times in its opening week.",
      "!The album was produced by {Q}, a longtime collaborator.",
      "{Ps}, who is {age}, recorded the songs in a converted barn.",
      "The tour will visit {x} cities, with {O} hosting the final night.",
      "Critics described the record as quieter and more personal than earlier work."],
     "\"These songs took their time, and so did I,\" {Ps} said.",
     "{P} returns with first album in years|Long wait ends as {P} unveils new record",
     "{P} has put out a long-awaited new album, a more intimate record, and will take it on tour beginning in {C}.",
     [("N1", "How many thousand times was the first single by {P} streamed in its opening week?"), ("Q", "Who produced the new album by {P}?")]),
    ("weather", "storm", "O",
     "A powerful storm brought winds of up to {w} kilometres an hour to {C} on {day}, the {O} said.|"
     "Winds of up to {w} kilometres an hour battered {C} on {day}, according to the {O}.",
     ["!About {N1} homes lost power at the height of the storm.",
      "!Forecaster {Q} said the strongest gusts were recorded on the coast.",
      "Several flights were cancelled and ferry services suspended.",
      "Fallen trees blocked roads across the region, and crews worked through the night to clear them.",
      "Conditions are expected to ease by the weekend."],
     "\"Please stay away from the sea front until the warning is lifted,\" said {R} of the emergency services.",
     "{O} warns as fierce gale batters {C}|Storm winds cut power in {C}, says {O}",
     "The {O} reported damaging winds in {C} that knocked out electricity, grounded flights and brought down trees across the region.",
     [("N1", "How many homes lost power in the storm reported by the {O}?"), ("Q", "Which forecaster did the {O} quote about the strongest gusts?")]),
    ("weather", "flood", "O",
     "Rivers burst their banks around {C} on {day} after {a} days of heavy rain, the {O} said.|"
     "After {a} days of heavy rain, rivers around {C} overflowed on {day}, according to the {O}.",
     ["!Emergency crews evacuated {N1} residents from low-lying streets.",
      "!The rescue effort was coordinated by fire chief {Q}.",
      "Some areas received a month's worth of rain in {x} hours.",
      "Temporary shelters were opened in schools and sports halls for families unable to return home.",
      "Water levels are expected to stay high for several days."],
     "\"We have not seen water this high in a generation,\" said {R}, a local shopkeeper.",
     "{O} reports flooding as rivers overflow near {C}|Heavy rain swamps {C}, {O} says",
     "Days of rain have caused rivers near {C} to overflow, the {O} said, forcing the evacuation of many residents.",
     [("N1", "How many residents were evacuated in the flooding reported by the {O}?"), ("Q", "Who coordinated the rescue effort in the flooding reported by the {O}?")]),
    ("weather", "heatwave", "O",
     "Temperatures in {C} reached {t} degrees on {day}, the hottest day of the year, the {O} said.|"
     "The {O} recorded {t} degrees in {C} on {day}, the highest reading of the year.",
     ["!Hospitals treated {N1} people for heat-related illness over the week.",
      "!Meteorologist {Q} said the heat was caused by a stalled area of high pressure.",
      "Authorities opened cooling centres in libraries and community halls.",
      "Water use has risen by {pct} percent since the start of the month.",
      "Some relief is forecast for the middle of next week."],
     "\"Check on elderly neighbours and drink plenty of water,\" said health official {R}.",
     "{O} records year's hottest day in {C}|Scorching heat grips {C}, says {O}",
     "The {O} says {C} has sweltered through its hottest day of the year, with cooling centres opened and hospitals busy.",
     [("N1", "How many people were treated for heat illness according to the {O}?"), ("Q", "Who explained the cause of the heat reported by the {O}?")]),
    ("weather", "snowfall", "O",
     "Heavy snow closed schools and roads across {C} on {day}, with up to {x} centimetres falling overnight, the {O} said.|"
     "Up to {x} centimetres of snow fell overnight in {C}, closing schools and roads on {day}, the {O} said.",
     ["!Road crews spread {N1} tonnes of grit on main routes.",
      "!Travel warnings were issued by highways manager {Q}.",
      "Trains ran a reduced timetable and several bus routes were suspended.",
      "Children made the most of the day off with sledges in city parks.",
      "More snow is forecast later in the week."],
     "\"Only travel if you really have to,\" said {R} of the local council.",
     "{O} reports heavy snowfall shutting {C}|Snow brings {C} to a standstill, {O} says",
     "Overnight snowfall brought roads and schools in {C} to a halt, the {O} reported, with crews working to clear main routes.",
     [("N1", "How many tonnes of grit were spread according to the {O}?"), ("Q", "Who issued travel warnings in the snowfall reported by the {O}?")]),
]
_BY_TOPIC = {t: [k for k in KINDS if k[0] == t] for t in TOPICS}


class _Pools:
    """Names and numbers drawn without replacement, so each occurs in at most one article."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.people = [f"{f} {l}" for f in FIRST for l in LAST]
        self.stems = [a + b for a in STEM_A for b in STEM_B]
        self.numbers = list(range(1000, 10000))
        for pool in (self.people, self.stems, self.numbers):
            rng.shuffle(pool)

    def take(self, pool: list):
        if not pool:
            raise ValueError("news corpus: name pool exhausted (n too large)")
        return pool.pop()


def _pick(rng: random.Random, variants: str) -> str:
    return rng.choice(variants.split("|"))


def _words(s: str) -> int:
    return len(s.split())


def _draft(rng: random.Random, pools: _Pools, spec: tuple, idx: int) -> dict | None:
    topic, name, ent, lead, details, quote, title, summary, qas = spec
    types = ORG_TYPES[topic]
    used = repr(spec)  # draw a unique name only for the slots this kind uses
    P, Q, R = (pools.take(pools.people) if "{%s" % k in used else "" for k in ("P", "Q", "R"))
    O, O2 = (f"{pools.take(pools.stems)} {rng.choice(types)}" if "{%s}" % k in used else "" for k in ("O", "O2"))
    c1, c2 = rng.sample(CITIES, 2)
    a = rng.randint(2, 5)
    s = {
        "P": P, "Ps": P.split()[-1] if P else "", "Q": Q, "R": R,
        "O": O, "O2": O2,
        "C": c1, "C2": c2, "N1": f"{pools.take(pools.numbers):,}", "day": rng.choice(DAYS),
        "a": a, "b": rng.randint(1, a - 1), "x": rng.randint(6, 29), "m": rng.randint(52, 94),
        "pct": rng.randint(3, 38), "age": rng.randint(21, 36), "yr": rng.randint(2004, 2019),
        "amt": f"{rng.randint(12, 98) / 10:.1f}", "w": rng.randint(90, 160), "t": rng.randint(34, 44),
    }
    fill = lambda tpl: tpl.format(**s)  # noqa: E731
    required = [d[1:] for d in details if d.startswith("!")]
    optional = [d for d in details if not d.startswith("!")]
    extra = rng.sample(optional, rng.randint(2, len(optional)))
    body = [fill(d.lstrip("!")) for d in details if d.lstrip("!") in required or d in extra]
    body.insert(rng.randint(1, len(body)), fill(_pick(rng, quote)))
    sentences = [fill(_pick(rng, lead))] + body + [fill(rng.choice(BACKGROUND[topic]))]
    fillers = rng.sample(FILLERS, len(FILLERS))
    rest = [fill(d) for d in optional if d not in extra]
    while (short := 112 - _words(" ".join(sentences))) > 0 and len(sentences) < 8:
        sentences.append(rest.pop(0) if rest and short <= 10 else fillers.pop())
    text = " ".join(sentences)
    slot, q = rng.choice(qas)
    art = {
        "id": f"news-{idx + 1:04d}", "kind": f"{topic}/{name}", "title": fill(_pick(rng, title)), "label": topic,
        "text": text, "summary": fill(_pick(rng, summary)), "question": fill(q), "answer": [s[slot]],
        "entity": s[ent],
    }
    return art if _valid(art) else None


def _valid(art: dict) -> bool:
    text, ans, ent = art["text"], art["answer"][0], art["entity"]
    return (100 <= _words(text) <= 220 and 5 <= _words(art["title"]) <= 12 and 15 <= _words(art["summary"]) <= 45
            and art["title"] not in text and art["summary"] not in text and ent in art["summary"] and ent in text
            and text.count(ans) == 1 and ans not in art["question"])


def news_articles(seed: int, n: int) -> list[dict]:
    """`n` short news articles, deterministic from `seed`, topics round-robin over TOPICS."""
    rng = random.Random(seed)
    pools = _Pools(rng)
    decks: dict[str, list] = {t: [] for t in TOPICS}

    def make(i: int, spec: tuple | None = None) -> dict:
        topic = TOPICS[i % len(TOPICS)]
        if spec is None:
            if not decks[topic]:
                decks[topic] = rng.sample(_BY_TOPIC[topic], len(_BY_TOPIC[topic]))
            spec = decks[topic].pop()
        for _ in range(50):
            art = _draft(rng, pools, spec, i)
            if art is not None:
                art["_spec"] = spec
                return art
        raise RuntimeError(f"news corpus: could not draft a valid {spec[0]}/{spec[1]} article")

    arts = [make(i) for i in range(n)]
    titles: dict[str, int] = {}
    for _ in range(20):  # cross-article checks; redraw offenders until clean
        big = "\n".join(a["text"] for a in arts)
        bad = []
        titles.clear()
        for i, art in enumerate(arts):
            keys = (art["entity"], art["answer"][0])
            if any(big.count(k) != art["text"].count(k) for k in keys) or art["title"] in titles:
                bad.append(i)
            titles.setdefault(art["title"], i)
        if not bad:
            break
        for i in bad:
            arts[i] = make(i, arts[i]["_spec"])
    else:
        raise RuntimeError("news corpus: could not make entities and answers unique")
    for art in arts:
        del art["_spec"]
    return arts
