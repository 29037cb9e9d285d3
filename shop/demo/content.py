"""Demo tags, articles and comments for the Broadsheet demo command."""

TAGS: list[tuple[str, str]] = [
    ("Ukraine", "Reporting on the war in Ukraine, its people and its recovery."),
    ("North Korea", "Coverage of North Korea, its economy and its neighbours."),
    ("Climate", "How a warming planet is changing places, policy and daily life."),
    ("Technology", "The tools, platforms and infrastructure shaping public life."),
    ("Economy", "Prices, wages, trade and the businesses that keep towns running."),
    ("Science", "Research explained, from the lab bench to the field station."),
    ("Culture", "Theatre, books, music and the institutions that sustain them."),
    ("Local", "Stories from the streets, councils and communities near home."),
    ("Media", "How news is made, checked, funded and shared."),
]

ARTICLES: list[dict] = [
    {
        "title": "Inside the slow, careful work of moving Ukrainian grain by river",
        "summary": (
            "Barge operators on the Danube describe a trade that has become steadier but "
            "never simple, shaped by insurance costs, weather and the constant threat of strikes."
        ),
        "body": """\
At the river ports along the lower Danube, the rhythm of the grain trade is now measured
in queues rather than in headlines. Barges wait at anchor for inspection slots, loading
crews work in shifts through the night, and freight brokers watch insurance quotes as
closely as they watch the weather.

Operators who spoke to Broadsheet described a system that has become more predictable over
the past year, though never comfortable. Routes that were improvised under pressure have
settled into routines, and the paperwork that once took days can now often be cleared in
hours.

## What still slows the barges down

Several obstacles came up again and again in our conversations with shipping agents,
dock managers and farm cooperatives:

- **Insurance premiums** that rise sharply after every reported attack on port facilities.
- **Low water levels** in late summer, which force barges to sail partly empty.
- **Inspection bottlenecks** at the points where river traffic meets sea-going vessels.
- **Labour shortages** as experienced crew members are called up or move abroad.

None of these problems is new on its own. What has changed is that they now stack on top
of one another, so that a dry month or a single damaged berth can ripple through the whole
chain within days.

## Farmers adjust their plans

For growers further inland, the uncertainty shows up in planting decisions. A cooperative
manager in the south of the country, who asked that her name not be used, said members
had shifted part of their acreage towards crops with better storage life, so that they
could hold stock when freight costs spike instead of selling at a loss.

Economists who follow the region caution that river routes cannot fully replace the
volumes once handled by the large seaports. But for now, the barges remain one of the
few channels that keep the harvest moving, and the people running them have learned to
plan for disruption as a normal part of the season.
""",
        "tags": ["Ukraine", "Economy"],
        "access": "public",
        "days_ago": 0,
    },
    {
        "title": "What satellite images can and cannot tell us about a North Korean shipyard",
        "summary": (
            "Commercial imagery has made remote monitoring widely available, but analysts warn "
            "that a photograph from orbit is the start of an investigation, not the end of one."
        ),
        "body": """\
A few years ago, detailed pictures of a remote industrial site were mostly the preserve of
governments. Today, anyone with a modest budget can order recent images from commercial
satellite operators, and independent analysts regularly publish annotated views of
facilities along the North Korean coast.

That openness is valuable. It allows researchers, journalists and the public to follow
changes that would otherwise be visible only to intelligence agencies. But it also
creates a temptation to read too much into a handful of pixels.

Take a typical shipyard on the east coast. Over several months, images might show a new
crane, a cleared stretch of ground and a hull-shaped object under a covering. Each of
those details can be measured and dated. What they mean is a different question. A new
crane may indicate construction of a larger vessel, routine maintenance or simply the
replacement of old equipment. A covered hull might be a military project or a fishing
boat sheltered from the weather.

Analysts we consulted for this piece, including two who work at university research
groups, stressed a few habits that separate careful work from guesswork. They compare
images taken at the same time of day to avoid misleading shadows. They look for patterns
across many months rather than single snapshots. And they check imagery against shipping
records, published state media photographs and, where possible, trade data.

They also emphasised humility. Cloud cover, low resolution and deliberate concealment
all limit what can be seen. A building that looks idle from above may be busy inside,
and a busy-looking yard may be staging activity for the cameras it knows are watching.

For readers, the practical lesson is simple: treat satellite analysis as evidence to be
weighed, not as a verdict. The best reports say clearly what is observed, what is
inferred, and how confident the authors are in each step between the two.
""",
        "tags": ["North Korea", "Technology"],
        "access": "public",
        "days_ago": 2,
    },
    {
        "title": "One town's plan to fit a thousand heat pumps before next winter",
        "summary": (
            "Millbrook council wants to retrofit a thousand homes in a single year. Installers "
            "say the target is possible, but only if the supply of trained engineers keeps up."
        ),
        "body": """\
Millbrook, a market town of about forty thousand people, has set itself an ambitious
target: a thousand heat pumps installed in local homes before the heating season returns.
The council says the scheme will cut household bills and emissions at the same time.
Installers and residents are more cautious, though broadly supportive.

## How the scheme works

Households that sign up receive a free survey of their property. If the home is suitable,
the council covers part of the installation cost through a grant, and the remainder can
be paid in instalments added to the council tax bill over ten years. Homes that need
better insulation first are offered that work before the heat pump goes in.

The council has published the full eligibility criteria and a list of approved installers
on its [retrofit programme page](https://example.org/millbrook/retrofit), along with a
calculator that estimates running costs for different types of house.

## The engineer bottleneck

The biggest constraint, according to local firms, is people rather than equipment. A
typical installation takes a two-person crew between two and four days, and there are
only a handful of certified engineers within an hour's drive. Two firms have taken on
apprentices specifically for the scheme, but it will be months before they can work
unsupervised.

Residents who have already switched report mixed early experiences. Several said their
homes were warmer and their bills lower than expected. Others described noisy outdoor
units, confusing thermostat settings and radiators that had to be replaced at short
notice, adding to the cost.

The council plans to publish monthly figures on installations, costs and complaints. If
the numbers hold up, officials say, the model could be copied by neighbouring districts.
If they do not, Millbrook may find out the hard way how much of the energy transition
depends on skilled hands rather than policy documents.
""",
        "tags": ["Climate", "Local"],
        "access": "public",
        "days_ago": 4,
    },
    {
        "title": "Small newsrooms are quietly adopting AI transcription. Here is what changes",
        "summary": (
            "Automatic transcription saves reporters hours each week, but editors say the real "
            "work is deciding where the machine's output can be trusted."
        ),
        "body": """\
For a reporter at a small local paper, an hour-long council meeting used to mean an
evening of typing. Today, many of those recordings are fed into automatic transcription
tools that return a searchable text within minutes. Editors at several independent
outlets told Broadsheet the change has been one of the most practical uses of artificial
intelligence they have seen.

The time savings are real. One editor at a regional weekly estimated that her three
reporters each recover around four hours a week, time they now spend making calls and
attending events rather than replaying audio. Searchable transcripts also make it easier
to check what was actually said when a source later disputes a quote.

But the newsrooms we spoke to were equally clear about the limits. Transcription tools
struggle with strong regional accents, crosstalk and poor microphones, and they are
prone to confidently mishearing names, numbers and technical terms. A misheard figure in
a budget debate can turn into a published error if nobody checks it against the audio.

Most of the outlets have settled on similar house rules. Any quote that appears in print
must be checked against the original recording. Names and figures are verified
separately. And recordings of sensitive interviews, such as those with sources who
have asked for anonymity, are not uploaded to third-party services at all.

Privacy is the part that worries editors most. Many tools process audio on remote
servers, and the terms of service are not always clear about how long recordings are
kept or whether they are used to train future models. Some newsrooms have switched to
software that runs entirely on their own computers, accepting slower results in exchange
for keeping material in-house.

The broader lesson, one editor suggested, is that the technology changes the shape of the
work rather than removing it. Reporters type less, but they still need to listen.
""",
        "tags": ["Technology", "Media"],
        "access": "members",
        "days_ago": 6,
    },
    {
        "title": "Why independent shops on Station Road are rethinking their leases",
        "summary": (
            "Rising rents and shorter footfall hours are pushing small traders to renegotiate, "
            "share premises or move online, according to a survey of local businesses."
        ),
        "body": """\
Walk down Station Road on a weekday afternoon and the picture looks healthy enough: a
bakery with a queue, a bookshop with a display of new releases, a repair shop with a
sign promising same-day service. Behind the shop fronts, however, many owners are doing
difficult arithmetic.

A survey of forty-two independent businesses on the street, carried out by the local
traders' association and shared with Broadsheet, found that more than half expect their
rent to rise at the next review. Nearly a third said they were considering leaving the
street within two years.

Owners described several strategies for staying put:

1. **Renegotiating early**, offering landlords a longer commitment in exchange for a
   smaller increase.
2. **Sharing premises**, such as a cafe that now rents its back room to a tailor.
3. **Shortening opening hours** to match the times when customers actually come in.
4. **Selling online** to reach customers beyond the town, using the shop as a showroom.

Landlords are not a single group, and their positions vary. Some of the properties are
owned by local families who have held them for decades; others belong to investment
funds based elsewhere. Traders reported that the former were generally more willing to
discuss terms, though several family landlords said their own costs, from insurance to
maintenance, had also risen sharply.

The council has limited tools to intervene directly in private leases. It does control
business rate relief, parking charges and the timing of roadworks, all of which traders
named as factors in their decisions. A councillor responsible for the town centre said a
review of parking charges would be published in the spring.

For now, the survey suggests a street that is adapting rather than collapsing. The
question for the next few years is whether the adaptations are enough.
""",
        "tags": ["Economy", "Local"],
        "access": "public",
        "days_ago": 8,
    },
    {
        "title": "The soil microbes that may help crops survive longer droughts",
        "summary": (
            "A three-year field study suggests that certain communities of soil bacteria help "
            "wheat keep its yield in dry seasons, though the effect varies widely between sites."
        ),
        "body": """\
Farmers facing hotter, drier summers have mostly relied on two levers: choosing hardier
crop varieties and changing when and how they irrigate. A growing body of research
points to a third, less visible factor: the microbial life in the soil itself.

A three-year field study, run across eighteen farms by a team of agricultural scientists,
compared wheat yields in dry seasons with detailed surveys of the bacteria and fungi
living around the plants' roots. Fields with a more diverse microbial community lost
noticeably less yield during drought than fields with a poorer one, even after the
researchers accounted for soil type, rainfall and farming practices.

## How the microbes might help

The researchers propose several mechanisms. Some bacteria produce compounds that help
roots grow deeper, reaching moisture that shallow roots cannot. Others appear to improve
the soil's structure, so that it holds water for longer after rain. Certain fungi form
partnerships with roots that extend their effective reach into the surrounding soil.

None of these ideas is entirely new, but the study is one of the larger attempts to
measure their combined effect in working fields rather than in greenhouse pots.

## Reasons for caution

The authors are careful not to overstate the results. The effect varied widely between
farms, and at a few sites the relationship between microbial diversity and yield was
weak or absent. The study also shows association rather than cause: healthier soils may
simply be a sign of management practices that help crops in many other ways.

Commercial products that promise to boost soil microbes are already on the market, and
the researchers warn that most have not been tested under realistic field conditions.
Their own recommendation is modest. Practices that are already known to support soil
health, such as reduced tillage, cover crops and varied rotations, appear to be the most
reliable way to encourage the microbial communities the study identified. The team plans
to extend the work to barley and oilseed crops over the next two seasons.
""",
        "tags": ["Science", "Climate"],
        "access": "paid",
        "days_ago": 10,
    },
    {
        "title": "A touring theatre company counts the cost of taking plays to small towns",
        "summary": (
            "The Lantern Players have brought live drama to village halls for twenty years. "
            "Rising travel and venue costs are forcing them to decide what kind of company to be."
        ),
        "body": """\
For two decades, the Lantern Players have loaded a van with flats, costumes and a folding
lighting rig and set off to perform in places that rarely see professional theatre:
village halls, school gyms, the function room above a rural pub. Audiences of sixty or
seventy are normal. A sell-out might mean a hundred and twenty.

The model has always relied on thin margins. Ticket prices are kept low deliberately, and
the company's income comes from a mix of box office, small grants and a loyal group of
individual donors. In recent seasons, though, the costs of fuel, accommodation and
insurance have risen faster than any of those sources.

The company's artistic director, Ruth Pennington, said the team had spent much of the
past year going through its budget line by line. Tours have been shortened, with fewer
overnight stays and more venues within a day's drive of the company's base. The cast of
the current production is four actors rather than the six the script was written for,
with doubling of parts handled through quick costume changes.

Audiences, she said, have been forgiving, and some venues have stepped in to help by
offering free rooms for the cast or covering part of the lighting hire. One village hall
committee organised a supper before the show and passed the profits on to the company.

The harder question is what happens next. The Players have been offered a residency at
an arts centre in the county town, which would provide stable income and a proper stage.
Accepting it would mean touring less, and the company's board is divided over whether
that would betray the reason it was founded.

A decision is expected before the autumn season is announced. Whatever the outcome, the
dilemma is one that many small touring companies now face: how to keep bringing work to
the people who are least likely to travel for it, when the travel itself has become the
most expensive part of the job.
""",
        "tags": ["Culture", "Local"],
        "access": "public",
        "days_ago": 12,
    },
    {
        "title": "Repair crews keep Ukraine's railways running through another winter",
        "summary": (
            "Railway engineers describe the routine of fixing damaged track and power lines "
            "quickly enough to keep passenger and freight trains on schedule."
        ),
        "body": """\
Ukraine's railway network has become one of the country's most relied-upon institutions
during the war, carrying civilians, freight and humanitarian supplies across long
distances when roads and airspace are unavailable. Keeping it running depends on repair
crews whose work is rarely seen by passengers.

Engineers and dispatchers described to Broadsheet a daily routine built around speed. When
a section of track or an overhead power line is damaged, crews are sent out as soon as
the area is judged safe. Temporary repairs are often completed within hours, with more
permanent work scheduled for later.

## The tools of rapid repair

Crews rely on a combination of equipment and preparation:

- Pre-positioned stocks of rails, sleepers and cable near key junctions.
- Diesel locomotives held in reserve for lines where electric power is cut.
- Mobile generators to keep signalling and station lighting working.
- Detailed plans for diverting trains around damaged sections.

Winter adds its own difficulties. Frozen ground slows excavation, ice builds up on
overhead lines, and short daylight hours limit the time crews can work safely outside.
Dispatchers said they plan timetables with extra margin during the coldest months,
accepting slower journeys in exchange for fewer cancellations.

## A workforce under strain

The railway's staff have paid a heavy price. Many employees have joined the armed forces,
and others have been injured or killed while working. Recruitment campaigns now aim at
groups that were once underrepresented, including women and older workers returning
from retirement, and training courses have been shortened where safety allows.

Passengers notice the results mostly in small ways: a train that arrives late but
arrives, a station that stays lit during a power cut, a conductor who knows which
connections will still run. For the people doing the repairs, keeping those small things
intact has become a measure of something larger.
""",
        "tags": ["Ukraine"],
        "access": "members",
        "days_ago": 14,
    },
    {
        "title": "Why rival fact-checkers are starting to share their work",
        "summary": (
            "Independent fact-checking teams that once competed for scoops are pooling research "
            "on viral claims, hoping to respond faster without cutting corners."
        ),
        "body": """\
Fact-checking has traditionally been a competitive business. Teams at different outlets
race to debunk the same viral claim, each doing the same phone calls and database
searches before publishing separate articles within hours of one another.

A group of independent fact-checking teams is trying a different approach. Under an
informal arrangement, participants share early research on widely circulating claims
through a common database: the original source of a photo, relevant official statistics,
contact details for experts who have agreed to be consulted. Each outlet still writes and
publishes its own verdict, in its own style, and remains responsible for its conclusions.

Editors involved in the project say the main benefit is speed. False claims tend to spread
fastest in the first few hours, and a shared starting point lets smaller teams respond
while the claim is still circulating widely. It also reduces the burden on experts, who
previously found themselves answering the same questions from a dozen reporters.

The arrangement has critics. Some journalists worry that shared research could lead to
shared mistakes, with one team's error repeated across several publications. Others point
out that readers may see the same conclusion from multiple outlets and assume it was
reached independently, when in fact the underlying research came from one place.

Participants say they have tried to address those concerns. Every entry in the database
records who added it and how it was verified, and outlets are encouraged to disclose when
their reporting drew on shared material. The group has also published its working
principles in an open [methodology document](https://example.org/factcheck/methods),
inviting comments from readers and other newsrooms.

Whether the model spreads will depend on trust between the participants, a commodity
that is harder to build than any database. For now, the experiment offers a glimpse of
a newsroom culture in which collaboration is treated as part of the job rather than as
a concession to competitors.
""",
        "tags": ["Media"],
        "access": "public",
        "days_ago": 17,
    },
    {
        "title": "Listening to the deep ocean with a new generation of low-cost sensors",
        "summary": (
            "Cheaper, smaller instruments are letting research teams monitor ocean temperature "
            "and sound at depths that were once too expensive to study continuously."
        ),
        "body": """\
The deep ocean remains one of the least observed parts of the planet. Research ships are
expensive to run, and the instruments traditionally used to measure conditions far below
the surface can cost as much as a small house. As a result, scientists have often had to
work with snapshots rather than continuous records.

A new generation of sensors is beginning to change that. Built from components first
developed for consumer electronics, the devices are small enough to be attached to
existing moorings and cheap enough that losing one is an inconvenience rather than a
disaster. Some measure temperature and pressure; others record sound, capturing
everything from whale calls to the rumble of distant shipping.

## What the data shows

Early deployments have produced records lasting months at a time. Researchers say the
continuous data reveals short-lived events, such as sudden pulses of warm water or bursts
of biological activity, that occasional ship visits would almost certainly miss. The
acoustic recordings have also helped map how noise from shipping lanes travels through
the water, a question of growing interest to marine biologists.

## The trade-offs

Cheaper instruments come with compromises. Their measurements are generally less precise
than those of established equipment, and they need careful calibration against reference
sensors before and after each deployment. Batteries limit how long they can run, and
biological growth on the housing can affect readings over time.

Data management is another challenge. A single acoustic sensor can produce terabytes of
recordings in a season, far more than any team can listen to. Researchers are developing
automated tools to flag interesting sections, but those tools need their own checks.

Supporters of the approach argue that many imperfect instruments can, together, reveal
patterns that a few perfect ones cannot. The next step, several teams say, is agreeing on
common standards so that data from different projects can be combined and compared.
""",
        "tags": ["Science", "Technology"],
        "access": "paid",
        "days_ago": 19,
    },
    {
        "title": "An oral history project records memories of everyday life in North Korea",
        "summary": (
            "Volunteers are collecting recorded interviews with people who left North Korea, "
            "focusing on ordinary routines rather than politics."
        ),
        "body": """\
Most of what the outside world hears about North Korea concerns missiles, summits and
sanctions. A small oral history project is trying to capture something different: the
details of ordinary life as remembered by people who grew up there and later left.

The project's volunteers, a mix of students, translators and retired teachers, have
recorded more than a hundred long-form interviews. Participants are asked about the
texture of daily routines: what they ate for breakfast, how they travelled to school,
which songs they learned as children, how families celebrated birthdays and how
neighbours helped each other through shortages.

The organisers say the focus is deliberate. Political testimony is valuable, but it is
already collected by human rights groups and researchers. Everyday memories are at risk
of disappearing as interviewees age, and they offer a more rounded picture of a society
that is often reduced to a handful of images.

The work raises careful questions of ethics and accuracy. Many participants still have
relatives in the country and worry about being identified, so interviews are anonymised
and details that could reveal a person's home town are removed before publication.
Memories can also be shaped by time and by the experience of leaving, and the project
does not present individual accounts as representative of the whole country.

Instead, the recordings are being organised into themes, allowing listeners to hear
several voices describe the same aspect of life, such as school, work or family
holidays, and to notice both the similarities and the differences. An online archive
is planned for next year, with transcripts in Korean and English.

For the volunteers, the project has been an education in listening. Several said the
most striking thing was not how strange the stories sounded, but how familiar many of
them were: worries about exams, jokes between siblings, the smell of a particular dish
cooked by a grandmother.
""",
        "tags": ["North Korea", "Culture"],
        "access": "members",
        "days_ago": 21,
    },
    {
        "title": "A plain guide to where household money is going this year",
        "summary": (
            "Food, energy and housing still dominate family budgets, but the pressures have "
            "shifted. We break down the main costs and what households can realistically change."
        ),
        "body": """\
Prices are no longer rising as fast as they were at the peak of the recent inflation
wave, but that does not mean they have fallen. For most households, costs have settled at
a higher level, and wages in many jobs have only partly caught up. This guide looks at
where the money is going and which parts of a budget are most open to change.

## The big three

For a typical household, three categories take the largest share of spending:

- **Housing**, whether rent or mortgage payments, which have risen with interest rates.
- **Energy**, where bills have eased from their highs but remain above earlier levels.
- **Food**, where price increases have slowed but have not reversed.

Together, these often account for more than half of take-home pay for lower-income
families, leaving little room for savings or unexpected costs.

## What households can change

Some costs are largely fixed in the short term. Rent is set by contract, and switching
homes is expensive. Others offer more room for adjustment. Comparing energy tariffs,
reviewing subscriptions and insurance renewals, and planning meals around seasonal food
can all make a difference, though rarely a dramatic one.
Consumer advice groups suggest starting with a simple record of spending over a single
month. Many people find that small recurring payments add up to more than they expected.
A free budgeting worksheet from an independent advice charity is available
[here](https://example.org/budget-worksheet).

## Where help is available

Households struggling with debt are encouraged to seek advice early rather than waiting
for arrears to build up. Free debt advice services can negotiate with creditors and
check whether people are receiving all the support they are entitled to. Local councils
also run hardship funds, although eligibility and amounts vary widely between areas.

Economists expect the pressure on budgets to ease gradually if wage growth continues to
outpace prices. For many families, though, the recovery will feel slower than the
figures suggest.
""",
        "tags": ["Economy"],
        "access": "public",
        "days_ago": 24,
    },
    {
        "title": "The library makerspace where retirees and teenagers fix things together",
        "summary": (
            "A converted reading room at Eastgate Library now hosts 3D printers, sewing machines "
            "and a weekly repair cafe, drawing visitors who had not used a library in years."
        ),
        "body": """\
Three years ago, the back reading room at Eastgate Library was mostly used for storage.
Today it holds two 3D printers, a laser cutter, a row of sewing machines and a workbench
covered in screwdrivers, soldering irons and half-repaired lamps. On a Saturday morning
it is one of the busiest rooms in the building.

The makerspace began as a small experiment funded by a community grant. Library staff
wanted to attract people who no longer borrowed books, and they noticed that workshops
on practical skills, such as basic sewing or setting up a new phone, were consistently
full. A dedicated room seemed the natural next step.

The most popular event is the weekly repair cafe. Residents bring in broken toasters,
torn coats, wobbly chairs and laptops that will not start, and volunteers help them try
to fix the problem themselves. Many of the volunteers are retired engineers, electricians
and dressmakers; a growing number are teenagers from the nearby secondary school, who
come to use the 3D printers and stay to learn how a kettle works.

Librarian Tom Ashworth, who runs the space, said the mixing of generations was not part
of the original plan but has become its defining feature. Older volunteers pass on
practical skills, while younger ones help with design software and online manuals. Both
groups, he said, seem to enjoy having a reason to talk to people they would not otherwise
meet.

The space faces familiar pressures. Materials cost money, the equipment needs regular
maintenance, and the library's opening hours have been reduced because of budget
constraints. Staff have introduced a small charge for printing materials and rely on
donations of tools and fabric.

Visitor numbers suggest the experiment has worked. The library reports that a significant
share of makerspace users had not held a library card before, and many now borrow books
on the subjects they first encountered at the workbench.
""",
        "tags": ["Local", "Culture", "Technology"],
        "access": "public",
        "days_ago": 27,
    },
    {
        "title": "Hikers and scientists team up to measure a shrinking glacier",
        "summary": (
            "A citizen science project asks walkers to photograph a mountain glacier from fixed "
            "points, building a record of its retreat that researchers could not afford alone."
        ),
        "body": """\
At several viewpoints along a popular mountain trail, small metal posts hold a bracket
just the right size for a smartphone. Walkers who reach them are invited to take a photo
of the glacier across the valley and upload it, along with the date and time, to a
research project that has been tracking the ice for five years.

## Why photographs matter

Professional glacier monitoring typically relies on satellite data, aerial surveys and
occasional field visits. Each method has gaps: clouds block satellites, surveys are
expensive, and field teams can only visit a few times a year. Thousands of photographs
taken from the same fixed positions fill in those gaps, showing how the ice edge, snow
cover and meltwater streams change week by week.

The project's scientists use software to align the images and measure changes in the
glacier's outline. Because the photos come from fixed points, even small shifts can be
detected when enough pictures are combined. The results are checked against the
satellite and survey records to make sure the method is reliable.

## What the record shows

The findings so far are consistent with wider trends. The glacier's front has retreated
each year of the study, with the fastest losses during summers that included prolonged
heatwaves. The photographs also show how quickly fresh snow disappears in autumn, a
detail that matters for understanding how much meltwater flows into the valley's rivers.

## Taking part

Participation is voluntary and anonymous, and the project asks walkers to stay on marked
paths and avoid the ice itself. Instructions and a map of the photo points are available
on the [project website](https://example.org/glacier-watch), which also publishes an
annual summary of the results.

The researchers say the real value of the project may become clear only in decades to
come. A long, detailed record of how one glacier changed, built by the people who walked
past it, could help future scientists understand what happened and why.
""",
        "tags": ["Climate", "Science"],
        "access": "paid",
        "days_ago": 30,
    },
]

COMMENTS: list[tuple[int, str]] = [
    (
        0,
        "Useful piece. I had no idea how much low river levels affect the barge trade. "
        "Would be good to see a follow-up on freight insurance.",
    ),
    (
        2,
        "We had a heat pump fitted last year and the survey was the most important step. "
        "Ask lots of questions about radiator sizes before anything is installed.",
    ),
    (
        3,
        "As someone who works at a small paper, the point about checking every quote against "
        "the audio is spot on. The tools are great until they misspell a councillor's name.",
    ),
    (
        8,
        "Interesting approach. The network's annual review is worth reading alongside this: "
        "https://example.org/report",
    ),
    (
        11,
        "The suggestion to track spending for a single month really works. "
        "It was the subscriptions that surprised me.",
    ),
    (
        12,
        "I volunteer at a repair cafe in another town and it is always the best part of my week. "
        "Lovely to see libraries getting involved.",
    ),
]
