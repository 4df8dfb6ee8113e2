"""Build the prompt pool: ordinary, innocuous user requests to a chat assistant.

The pool mixes hand-written prompts with seeded templates filled from
hand-written item lists (each item is used once, spread round-robin over
several phrasings), plus seeded arithmetic/word problems for `compute`.
Every prompt carries a task `kind` and a coarse `topic`.

Rerun (standard library only; output is byte-identical on every run):

    python tasks/data/make_prompts.py

It writes tasks/data/prompts.jsonl next to this file, one JSON object per
line, {"text": ..., "kind": ..., "topic": ...}, sorted by kind then text,
and checks: >=80 prompts per kind, 5-40 words, ASCII, no duplicates after
normalisation, and no single template above 3% of the pool.
"""

import json
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path

SEED = 1357
OUT_PATH = Path(__file__).resolve().parent / "prompts.jsonl"
KINDS = ("explain", "list", "write", "rewrite", "advise", "compute", "compare",
         "define", "summarize", "brainstorm", "howto", "classify")
MIN_PER_KIND = 80
MIN_WORDS, MAX_WORDS = 5, 40
MAX_TEMPLATE_SHARE = 0.03

GROUPS = []  # (kind, templates, rows): each row's fills go into one template
HAND = []    # (kind, rows): each row is a finished prompt


def _rows(block):
    rows = []
    for line in block.strip().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        rows.append((parts[0], parts[1:]))
    return rows


def group(kind, templates, block):
    GROUPS.append((kind, list(templates), _rows(block)))


def hand(kind, block):
    HAND.append((kind, _rows(block)))


# ---------------------------------------------------------------- explain
group("explain", [
    "Explain how {} works in simple terms.",
    "I've always wondered how {} works. Can you explain?",
    "Can you explain how {} works?",
    "Briefly describe how {} works.",
], """
technology|a refrigerator
technology|a microwave oven
technology|GPS navigation
technology|Wi-Fi
technology|a touchscreen
technology|a solar panel
technology|a QR code
technology|Bluetooth
technology|a password manager
technology|a search engine
technology|an electric car battery
technology|a pair of noise-canceling headphones
technology|a 3D printer
technology|cloud storage
technology|spell check
health|a vaccine
health|the immune system
health|a hearing aid
science|a rainbow
science|a compass
science|a thermometer
science|a magnet
science|a lever
science|an airplane wing
science|a hot air balloon
science|a battery
home repair|a toilet flush
home repair|a circuit breaker
home repair|a thermostat
home repair|a water heater
home repair|a smoke detector
money|a credit score
money|compound interest
money|a savings account
money|a mortgage
money|a stock market index
nature|pollination
nature|bird migration
nature|a food chain
cooking|a pressure cooker
cooking|yeast in bread dough
cooking|a slow cooker
sports|the offside rule in soccer
sports|scoring in tennis
sports|the scoring system in bowling
music|a guitar amplifier
music|a metronome
""")

group("explain", ["Why {}?"], """
science|does the sky look blue during the day
cooking|does bread dough need to rise
science|does ice float on water
pets|do cats purr when they are happy
pets|do dogs wag their tails
nature|do leaves change color in autumn
science|do we see lightning before we hear thunder
health|do we yawn when we are tired
cooking|do onions make people cry
science|does salt melt ice on roads
geography|are deserts so cold at night
science|does the moon seem to change shape
health|do we need sleep
home repair|do pipes freeze in winter
technology|do phones seem to get slower over time
nature|do bees make honey
science|does metal feel colder than wood
geography|is it summer in Australia in December
health|do our fingers wrinkle in water
cooking|does a cut apple turn brown
science|do stars twinkle at night
history|did the ancient Egyptians build pyramids
language|does English have so many irregular verbs
music|do some songs get stuck in your head
gardening|do plants need sunlight
science|is the ocean salty
pets|do cats usually land on their feet
""")

group("explain", [
    "Can you explain what causes {}?",
    "Do you know what causes {}?",
    "What is the main cause of {}?",
], """
science|thunder
geography|the tides
geography|the seasons
health|hiccups
science|rust on metal
travel|jet lag
health|muscle cramps
nature|earthquakes
nature|volcanic eruptions
nature|wind
health|brain freeze when eating ice cream
home repair|mold in bathrooms
home repair|squeaky floorboards
science|static electricity
health|a sunburn
gardening|yellow leaves on a houseplant
cooking|bread to go stale
science|an echo
nature|fog
technology|a laptop to overheat
health|motion sickness
pets|hairballs in cats
science|the northern lights
cooking|sugar to caramelize
nature|ocean waves
""")

group("explain", [
    "Explain {} to a ten-year-old.",
    "Can you explain {} in simple words?",
    "How would you explain {} to a beginner?",
    "Give me a simple explanation of {}.",
], """
science|gravity
science|the water cycle
science|evolution by natural selection
math|fractions
math|negative numbers
math|probability
math|the Pythagorean theorem
money|inflation
money|interest on a loan
technology|the internet
technology|machine learning
technology|computer memory
programming|recursion
programming|variables in programming
programming|object-oriented programming
programming|what an API is
programming|version control
science|atoms
science|electricity
science|the speed of light
nature|ecosystems
history|the Industrial Revolution
history|the Renaissance
language|the past perfect tense
language|metaphors
music|musical scales
music|rhythm and tempo
health|calories
health|what the heart does
geography|time zones
geography|latitude and longitude
science|DNA
science|black holes
science|friction
""")

group("explain", [
    "How did {} first come about?",
    "What is the history of {}?",
    "Tell me briefly how {} got started.",
], """
history|the Olympic Games
history|the printing press
music|jazz
sports|basketball
cooking|pizza
cooking|chocolate as a food
history|the postal service
technology|the World Wide Web
history|paper money
sports|the marathon
culture|Halloween
music|the piano
cooking|sushi
history|public libraries
games|chess
technology|email
history|the calendar we use today
history|the Silk Road trade routes
sports|the Tour de France
""")

hand("explain", """
geography|Explain why the Dead Sea is so salty.
money|What does it mean when a bank pays interest on savings?
science|Explain why some objects float and others sink.
history|Explain why the Roman Empire lasted so long.
work|Explain what a performance review is meant to accomplish.
school|Explain why taking notes by hand can help you remember.
money|Explain why people spread their savings across different investments.
health|Explain why drinking water is important during exercise.
programming|Explain what happens when you type a web address into a browser.
programming|What does a compiler do, in plain language?
programming|Explain what a for loop does in Python.
programming|Explain why comments in code are useful.
programming|What is the point of writing unit tests?
language|Why are there silent letters in English words like "knight"?
nature|How do fish breathe underwater?
pets|How do dogs learn to understand human commands?
gardening|Why is composting good for a garden?
productivity|Why do short breaks help people focus better?
relationships|Why is it considered polite to reply to an invitation?
travel|Why do passenger planes fly so high?
sports|Explain the basic rules of volleyball.
sports|Explain how a penalty shootout works in soccer.
music|Explain what a chord is and how it is built.
math|Explain why any number multiplied by zero is zero.
math|Explain why you cannot divide a number by zero.
technology|What does a software update usually fix?
home repair|Explain why you should turn off the water before fixing a faucet.
health|How does caffeine keep people awake?
science|How do plants move water from their roots to their leaves?
science|Why does a spoon in a glass of water look bent?
geography|Why are mountains colder at the top?
cooking|Why do recipes tell you to let meat rest after cooking?
nature|How do chameleons change color?
health|What happens to your body when you exercise regularly?
""")

# ---------------------------------------------------------------- list
group("list", [
    "List {}.",
    "Can you list {}?",
    "Give me {}.",
    "Name {}.",
    "What are {}?",
], """
health|five foods that are high in protein
health|six simple stretches for the morning
cooking|five spices every beginner cook should have
gardening|vegetables that grow well in early spring
travel|five things to check before an international flight
geography|the seven continents
geography|the five oceans of the world
science|the planets in our solar system in order
science|the three states of matter
history|five important inventions from the 1800s
history|the seven wonders of the ancient world
music|five instruments found in an orchestra
music|four famous classical composers
sports|five sports played at the Summer Olympics
sports|the positions on a basketball team
pets|five dog breeds that are good with children
pets|foods that are unsafe for cats
gardening|six herbs that grow well indoors
gardening|five flowers that attract butterflies
home repair|the essential tools for a basic home toolkit
home repair|signs that a roof needs repair
money|five common monthly household expenses
money|ways to cut down a grocery bill
programming|five popular programming languages
programming|the common data types in Python
technology|five keyboard shortcuts everyone should know
technology|ways to make a phone battery last longer
school|good habits for studying for exams
school|five classic novels often read in high school
work|skills that are useful in almost any job
work|things to bring to a job interview
productivity|five habits of well-organized people
language|ten common French greetings
language|five English words that are often misspelled
nature|animals that hibernate in winter
nature|five trees that keep their leaves all year
math|the first ten prime numbers
math|the basic units of the metric system
relationships|polite phrases to use at a dinner party
health|common signs of dehydration
cooking|foods that freeze well
geography|the longest rivers in the world
science|the six simple machines
nature|the layers of a rainforest
health|healthy snacks under 200 calories
technology|the main parts inside a desktop computer
sports|the basic equipment needed to start playing tennis
""")

group("list", [
    "What are some common mistakes people make when {}?",
    "List common beginner mistakes when {}.",
], """
cooking|cooking rice
cooking|baking bread
work|writing a resume
money|making a monthly budget
gardening|growing tomatoes
pets|training a puppy
programming|learning to code
language|learning a new language
sports|starting to run
travel|booking flights
home repair|painting a room
school|writing an essay
health|starting a new exercise routine
technology|setting up a home network
music|learning guitar
productivity|making a to-do list
relationships|giving a toast at a wedding
technology|taking photos with a phone
""")

group("list", [
    "What ingredients do I need to make {}?",
    "List the ingredients for {}.",
    "Give me a shopping list for making {}.",
], """
cooking|pancakes
cooking|guacamole
cooking|a basic tomato sauce
cooking|chocolate chip cookies
cooking|hummus
cooking|a simple vinaigrette
cooking|French toast
cooking|banana bread
cooking|a vegetable stir-fry
cooking|fresh lemonade
cooking|chicken noodle soup
cooking|basil pesto
cooking|a fruit smoothie
cooking|macaroni and cheese
cooking|egg fried rice
""")

group("list", [
    "What should I pack for {}?",
    "Make a packing list for {}.",
], """
travel|a beach vacation
travel|a ski trip
travel|a three-day business trip
travel|a long-haul flight
travel|a day hike in the mountains
music|a summer music festival
travel|a week in a rainy city
travel|a road trip with kids
travel|my first camping trip
pets|a weekend trip with my dog
school|my first week at college
sports|a weekend soccer tournament
""")

hand("list", """
travel|What are some useful phrases to learn before visiting Italy?
cooking|List five breakfast foods that are quick to make.
pets|What supplies do I need before bringing home a new kitten?
school|List some study apps or methods that help with memorizing facts.
nature|Name some animals that live in the Arctic.
math|List the multiples of 7 up to 70.
history|Name some famous ancient civilizations.
sports|What are the events in a decathlon?
science|What are the noble gases?
nature|Name some wild cats that live in Africa.
language|List the days of the week in Spanish.
science|What are the main parts of a plant cell?
games|Name some board games that are fun for four players.
science|List the steps of the scientific method.
health|What are the main food groups?
health|List the bones in the human arm.
geography|Name the five largest countries by area.
sports|What are the main parts of a bicycle?
gardening|List some houseplants that are hard to kill.
geography|What are the names of the Great Lakes?
culture|Name some famous paintings by Vincent van Gogh.
science|List the colors of the rainbow in order.
programming|What are some common Python libraries for data analysis?
nature|Name some birds you might see in a city park.
games|What are the chess pieces, and how many of each does a player start with?
home repair|List some everyday uses for white vinegar around the house.
home repair|Give me a list of kitchen items I need for my first apartment.
science|What are the main types of clouds?
geography|Name five famous bridges around the world.
work|List the sections that a typical resume includes.
music|List some popular musical genres and one feature of each.
productivity|List a few apps or tools that help people manage their time.
relationships|List some good questions to ask when meeting someone new.
""")

# ---------------------------------------------------------------- write
group("write", [
    "Write a short poem about {}.",
    "Write a haiku about {}.",
    "Write a four-line rhyming poem about {}.",
    "Write a funny limerick about {}.",
], """
nature|the first snowfall of winter
nature|a quiet forest at dawn
nature|the ocean at night
pets|a sleepy cat
pets|a dog waiting by the door
cooking|a cup of morning coffee
cooking|baking bread on a Sunday
gardening|a vegetable garden in summer
gardening|tulips in spring
travel|a long train journey
travel|a busy airport
sports|the last minute of a soccer game
sports|a morning run
music|an old piano
music|a street musician
school|the last day of school
school|a math test
work|Monday mornings
work|a coffee break at the office
technology|a phone with a low battery
technology|a slow internet connection
science|the moon
science|a rainbow after the rain
history|an old castle
geography|a mountain village
language|learning a new word
relationships|an old friendship
relationships|a family dinner
home repair|a leaky faucet
productivity|a very long to-do list
math|the number zero
nature|autumn leaves
nature|a thunderstorm
health|a good night's sleep
money|a piggy bank
pets|a goldfish in a bowl
nature|a busy bee
cooking|a bowl of soup on a cold day
travel|a rainy day in a new city
gardening|sunflowers
""")

group("write", [
    "Write a polite email to {}.",
    "Draft a short email to {}.",
    "Help me write a brief message to {}.",
], """
home repair|my landlord asking to fix a leaking kitchen faucet
work|my manager asking for a day off next Friday
work|a coworker thanking them for help on a project
school|my teacher asking for an extension on an essay
school|a professor asking to meet during office hours
work|a client to move our meeting to Thursday
relationships|a neighbor about a package delivered to them by mistake
travel|a hotel asking about early check-in
money|my bank asking about an unfamiliar fee
pets|a dog sitter with instructions for the weekend
work|a recruiter thanking them after an interview
work|my team announcing a new weekly meeting time
school|a classmate to plan our group project
health|a dentist's office to reschedule an appointment
relationships|a friend I haven't spoken to in a year
home repair|a plumber asking for a price estimate
work|a customer apologizing for a late order
sports|my soccer team saying practice is canceled
music|a music teacher asking about beginner lessons
gardening|a neighbor asking to borrow a lawn mower
technology|customer support about a broken charger
relationships|my book club suggesting next month's book
cooking|a caterer asking about vegetarian menu options
travel|a friend sharing plans for our road trip
productivity|my team proposing a shorter weekly meeting
work|a new employee welcoming them to the team
school|parents inviting them to the class science fair
money|my roommate about splitting the electricity bill
""")

group("write", ["Write a thank-you note to {}."], """
relationships|my aunt for a birthday gift
school|a teacher at the end of the school year
gardening|a neighbor who watered my plants
relationships|a friend who helped me move
relationships|a host after a dinner party
health|a nurse who was kind to my family
sports|a coach after a great season
work|a coworker who covered my shift
relationships|my grandparents for a lovely visit
work|a mentor who gave me career advice
""")

group("write", ["Write a birthday message for {}."], """
relationships|my best friend
work|my boss
work|a coworker turning fifty
relationships|my younger brother
relationships|my grandmother turning ninety
school|a classmate
""")

group("write", ["Write a short congratulations message to {}."], """
school|a friend who just graduated
work|a coworker who got promoted
relationships|a neighbor who just had a baby
relationships|a cousin who got engaged
sports|a team that won the championship
sports|a friend who ran her first marathon
""")

group("write", [
    "Write a very short story about {}.",
    "Write a 100-word story about {}.",
    "Tell a short bedtime story about {}.",
], """
pets|a cat who learns to open doors
nature|a lost turtle finding its way home
travel|a suitcase sent to the wrong country
technology|a robot that wants to learn to cook
cooking|a chef who forgets an important ingredient
school|a student who finds a mysterious library book
sports|a goalkeeper in her first big match
music|a violin that plays by itself
history|a child living in a medieval village
science|an astronaut's first day on the moon
gardening|a seed that is afraid to grow
relationships|two neighbors who become friends
work|someone's first day at a new job
nature|a friendly dragon who loves the rain
math|a number that feels left out
geography|a penguin who visits the desert
home repair|a house that fixes itself
pets|a dog who becomes a hero
nature|a squirrel getting ready for winter
language|a word that escapes from a dictionary
productivity|a clock that can pause time for one hour
money|a coin's journey around the world
""")

group("write", [
    "Write a product description for {}.",
    "Write a short, catchy ad for {}.",
], """
health|a reusable water bottle
home repair|a cozy wool blanket
sports|a pair of lightweight running shoes
cooking|a handmade ceramic mug
gardening|a beginner's herb garden kit
pets|a soft bed for large dogs
technology|a pair of wireless earbuds
home repair|lemon-scented hand soap
health|a weekend yoga class
cooking|a family-owned bakery
sports|a used bicycle for sale
school|an after-school tutoring service
""")

hand("write", """
cooking|Write a short menu for a cozy dinner party with three courses.
nature|Write a short nature poem in the style of a nursery rhyme.
work|Write a short bio for a freelance graphic designer.
work|Write a two-sentence out-of-office reply for a week of vacation.
work|Write an opening line for a cover letter for a library assistant job.
school|Write a short introduction for an essay about recycling.
school|Write a paragraph describing your favorite season.
pets|Write a lost cat flyer for a gray cat named Milo.
cooking|Write a recipe card for simple scrambled eggs.
travel|Write a short postcard message from a beach holiday.
relationships|Write a three-sentence toast for my sister's wedding.
relationships|Write an apology note to a friend for missing their party.
relationships|Write a warm invitation to a backyard barbecue on Saturday.
music|Write the first verse of a song about summer.
sports|Write a short pep talk for a youth basketball team.
nature|Write a short description of a sunset over the sea.
programming|Write a Python function that returns the largest number in a list.
programming|Write a Python function that checks whether a word is a palindrome.
programming|Write a simple HTML page with a heading and a paragraph.
programming|Write a SQL query that selects all rows from a table named users.
programming|Write a JavaScript function that adds two numbers.
programming|Write a Python loop that prints the numbers 1 to 10.
programming|Write a docstring for a function that converts Celsius to Fahrenheit.
technology|Write a short social media post announcing a new podcast episode about gardening.
productivity|Write a daily schedule for a student who has classes in the morning.
work|Write a short job posting for a part-time barista.
school|Write a riddle for kids whose answer is an umbrella.
home repair|Write a friendly note asking roommates to clean the kitchen after cooking.
health|Write a motivational message for someone starting a fitness plan.
language|Write five example sentences using the word "although".
math|Write a word problem about sharing apples for second graders.
history|Write a short diary entry from a sailor on a ship in the 1700s.
gardening|Write a plant care tag for a basil plant.
""")

# ---------------------------------------------------------------- rewrite
group("rewrite", [
    'Rewrite this sentence to sound more formal: "{}"',
    'Make this message more professional: "{}"',
], """
work|hey, can you send me that report by tomorrow?
work|we gotta push the meeting to next week.
school|i didn't finish the homework cause i was sick.
work|thanks a ton for the help, you're awesome.
money|the bill's way too high this month, fix it please.
travel|our flight got canceled so we're stuck here.
work|sorry i'm late, traffic was crazy.
home repair|the heater's broken again, somebody needs to fix it.
work|can't make it to the call, something came up.
relationships|wanna grab lunch sometime next week?
technology|my laptop keeps crashing and it's driving me nuts.
school|the test was super hard and nobody got it.
work|just checking if you saw my last email.
cooking|the soup was kinda bland, add more salt next time.
pets|my dog chewed up the cable so the internet's down.
""")

group("rewrite", [
    'Make this request more polite: "{}"',
    'Rephrase this so it sounds kinder: "{}"',
], """
relationships|Turn your music down.
work|Send me the numbers now.
home repair|Fix the sink today.
relationships|You're always late.
work|This report is wrong, redo it.
school|Stop talking during class.
travel|Move your bag, I need the seat.
cooking|This food is cold, bring another one.
relationships|Don't park in front of my house.
work|Answer my email.
pets|Keep your dog off my lawn.
technology|Your app doesn't work, fix it.
money|Pay me back the money you owe me.
""")

group("rewrite", [
    'Simplify this sentence so a child can understand it: "{}"',
    'Rewrite this in plain English: "{}"',
], """
science|Photosynthesis is the process by which plants convert light energy into chemical energy.
money|Compound interest is calculated on the initial principal and the accumulated interest.
health|Regular physical activity reduces the risk of cardiovascular disease.
science|Evaporation occurs when liquid water absorbs enough heat to become vapor.
technology|Please ensure your device is connected to a power source prior to initiating the update.
work|All personnel are required to attend the mandatory safety briefing.
geography|The equator is an imaginary line equidistant from the North and South Poles.
history|The invention of the printing press facilitated the widespread dissemination of knowledge.
nature|Deciduous trees shed their foliage annually in preparation for winter.
health|Adequate hydration is essential for maintaining optimal cognitive function.
money|Expenditures exceeded revenue for the third consecutive quarter.
pets|Canines require daily physical exertion to maintain their well-being.
school|Students must submit their assignments prior to the stated deadline.
""")

group("rewrite", [
    'Fix the grammar in this sentence: "{}"',
    'Correct the mistakes in this sentence: "{}"',
], """
language|Me and him goes to the store every Saturday.
school|She don't like doing her homework on weekends.
travel|We was planning to visit they're grandparents in June.
cooking|The cookies was to sweet for my taste.
pets|My cat love to sleeps in the sun.
work|There is many reasons to update the software.
sports|Our team have won three games in a row last month.
music|He play the guitar very good.
school|Their going to the library after class.
nature|The birds flies south when it get cold.
home repair|The door need to be fix before winter.
money|I have less coins then my brother.
relationships|Who's book is this on the table?
technology|Your going to need a new charger for that phone.
gardening|The flowers grows better when you waters them daily.
health|Me and my sister goes jogging every mornings.
""")

group("rewrite", ['Rewrite this sentence in the passive voice: "{}"'], """
cooking|The chef prepared a delicious meal.
home repair|The children painted the fence.
nature|The storm damaged several houses.
school|Our teacher graded the exams quickly.
technology|The mechanic repaired my car.
pets|The dog chased the ball across the yard.
history|Engineers designed the new bridge.
""")

group("rewrite", ['Rewrite this sentence in the active voice: "{}"'], """
cooking|The cake was baked by my grandmother.
sports|The window was broken by a baseball.
music|The song was written by a young musician.
work|The report was finished by the team on Friday.
gardening|The garden was planted by volunteers.
sports|The match was won by the visiting team.
work|The email was sent by the manager.
""")

group("rewrite", [
    'Make this sentence shorter without losing its meaning: "{}"',
    'Make this more concise: "{}"',
], """
work|In my personal opinion, I think that we should probably start the meeting a little bit earlier than usual.
productivity|At this point in time, I am currently in the process of organizing my desk.
school|The reason why I was late to class is because of the fact that the bus was delayed.
travel|We made a decision to go ahead and book the hotel that is located near the beach.
health|Due to the fact that it was raining, we decided not to go for our usual evening walk.
cooking|You should make sure that you stir the sauce constantly so that it does not end up burning.
home repair|It is absolutely essential and necessary to turn off the power before you change a light fixture.
money|I would like to take this opportunity to remind everyone that rent is due on the first.
technology|In the event that the printer stops working, please contact the IT department for assistance.
gardening|Water the plants each and every day during the hot summer months of the year.
""")

group("rewrite", [
    'Rewrite this in a more cheerful tone: "{}"',
    'Rewrite this announcement so it sounds more enthusiastic: "{}"',
], """
work|The office will be closed on Monday.
relationships|The picnic is moved to Sunday because of rain.
work|We have a meeting at 9 tomorrow.
relationships|Dinner will be at seven.
school|The library has new opening hours.
sports|Practice starts at 6 a.m. this week.
""")

group("rewrite", ['Rewrite this to sound calmer and more constructive: "{}"'], """
home repair|I can't believe you lost the keys again!
travel|Why is the train always late?!
technology|This printer is useless and I hate it.
home repair|Nobody ever cleans the kitchen around here!
work|I've been waiting an hour and nobody has helped me!
""")

hand("rewrite", """
travel|Turn this statement into a question: "The museum opens at ten."
language|Rewrite this sentence in the past tense: "She walks to school and buys a muffin."
gardening|Rewrite this sentence in the future tense: "We plant tomatoes in the backyard."
language|Paraphrase this saying in your own words: "Practice makes perfect."
productivity|Rewrite this as a bulleted list: "Buy milk, call the dentist, and water the plants."
cooking|Rewrite this headline to be more exciting: "Local Bakery Opens New Store"
cooking|Rewrite this recipe step more clearly: "Put the stuff in the pan and cook it till done."
work|Change this sentence from first person to third person: "I finished my project early."
science|Rewrite this sentence using simpler words: "The meteorologist anticipates precipitation."
cooking|Reword this review to sound more balanced: "This blender is the worst thing ever made."
language|Rewrite this sentence without using the word "very": "The movie was very, very long."
school|Rewrite this to be gender-neutral: "Each student should bring his own lunch."
language|Rewrite this sentence so it is easier to read: "The book that the girl who lives next door lent me was good."
money|Rewrite this as a friendly reminder: "Rent is due Friday."
work|Rewrite this text message to sound more professional: "running late, b there in 10"
cooking|Turn this sentence into a short slogan: "Our bakery makes fresh bread every morning."
pets|Rewrite this sentence to make it more descriptive: "The dog ran across the park."
programming|Rewrite this code comment to be clearer: "# does the thing with the list"
language|Rewrite this sentence with British spelling: "The theater center was full of color."
nature|Rewrite this sentence for a picture book for toddlers: "The volcano erupted violently."
work|Rewrite this complaint as constructive feedback: "Your meetings are boring and too long."
health|Rewrite this sentence in the second person: "People should drink water after exercise."
nature|Combine these two sentences into one: "The rain stopped. We went outside."
travel|Split this long sentence into two: "We went to the market and bought apples and then we drove to the lake for a picnic."
programming|Rename this Python variable to something clearer and rewrite the line: "x = price * 0.2"
""")

# ---------------------------------------------------------------- advise
group("advise", [
    "Any tips for {}?",
    "What are some tips for {}?",
    "Do you have any advice for {}?",
    "What's your best advice for {}?",
], """
work|staying focused while working from home
school|preparing for a big exam
money|sticking to a monthly budget
health|getting better sleep
health|drinking more water during the day
pets|introducing a new cat to my dog
pets|keeping a puppy busy while I'm at work
travel|dealing with jet lag after a long flight
travel|traveling on a tight budget
cooking|cooking healthy meals on busy weeknights
cooking|keeping fresh herbs from wilting
gardening|growing vegetables on a small balcony
gardening|keeping houseplants alive in winter
home repair|keeping a small apartment tidy
relationships|making friends in a new city
relationships|remembering people's names
work|asking my boss for a raise
work|making a good impression at a new job
work|running a productive meeting
productivity|beating procrastination
productivity|keeping my email inbox under control
language|practicing a new language every day
language|improving my spelling
music|practicing piano with only 15 minutes a day
sports|staying motivated to run in winter
sports|improving my swimming technique
technology|keeping my online accounts secure
technology|cutting down my screen time
math|getting better at mental math
school|writing a strong college application essay
school|staying organized during the semester
money|saving up for a vacation
health|building a daily stretching habit
relationships|being a better listener
work|giving a presentation without getting nervous
nature|hiking safely in hot weather
cooking|meal prepping for the whole week
pets|keeping an indoor cat entertained
""")

group("advise", [
    "What should I do if {}?",
    "What's the best thing to do if {}?",
], """
gardening|my houseplant's leaves are turning yellow
pets|my dog is scared of thunderstorms
home repair|my bathroom sink drains slowly
technology|my phone storage is almost full
travel|my flight gets canceled at the last minute
money|I forget to pay a bill on time
school|I fall behind in one of my classes
work|I make a mistake in an email to a client
relationships|I forget a close friend's birthday
cooking|I add too much salt to a soup
cooking|my bread dough doesn't rise
health|I can't fall asleep at night
technology|my laptop won't turn on
home repair|my smoke alarm keeps chirping
pets|my cat stops using the litter box
gardening|there are aphids on my roses
sports|I get a side stitch while running
productivity|I have too many tasks and not enough time
work|a coworker keeps interrupting me in meetings
relationships|two friends invite me to events on the same day
money|I get an unexpected car repair bill
language|I can't understand native speakers when they talk fast
music|my guitar keeps going out of tune
travel|I lose my luggage on a trip
""")

group("advise", [
    "I {}. What do you suggest?",
    "I {}. Any advice?",
], """
work|have two job offers and can't decide between them
school|have three exams in one week
money|want to start saving but don't earn much
health|sit at a desk all day and my back gets stiff
pets|want to adopt a pet but live in a small apartment
travel|am visiting Japan for the first time next month
cooking|want to cook more but only have one pan
gardening|just moved into a house with a big empty yard
relationships|am hosting my first dinner party
relationships|have a roommate who never does the dishes
productivity|keep checking my phone while studying
technology|need a laptop for school on a small budget
language|want to learn basic Spanish before a trip in three months
music|want to learn an instrument as an adult
sports|want to get back into soccer after five years off
home repair|want to paint my bedroom but have never painted before
work|am starting a new job on Monday
school|am choosing between two college majors
money|got a small bonus and don't know what to do with it
health|want to start running but get tired quickly
nature|want to spend more time outdoors but live in a big city
pets|have a dog that pulls hard on the leash
""")

group("advise", ["Should I {} or {}?", "Is it better to {} or {}?"], """
money|pay off my credit card|put the money into savings
travel|take the train|rent a car for a trip around Italy
pets|get a cat|a dog as my first pet
school|study in the morning|late at night
cooking|buy a gas stove|an electric one
work|take meeting notes on paper|on a laptop
health|exercise before breakfast|after work
technology|buy a tablet|a laptop for college
home repair|repair my old washing machine|replace it
gardening|start tomatoes from seed|buy young plants
music|learn piano|guitar first
sports|join a gym|work out at home
language|use a language app|take an evening class
productivity|use a paper planner|a calendar app
travel|book a hotel|a vacation rental for a family trip
""")

hand("advise", """
work|My coworker often takes credit for my ideas. How should I handle it politely?
relationships|How do I tell a friend I can't lend them money without hurting their feelings?
relationships|What is a polite way to leave a party early?
productivity|I get nervous making phone calls. How can I feel more comfortable?
money|How much is it customary to tip a hairdresser in the United States?
school|How can I encourage my kids to read more books?
relationships|What's a good gift for a coworker who is retiring?
gardening|My tomato plants are tall but have no fruit. What could help?
sports|How should I prepare for my first marathon?
home repair|What should I look for when renting my first apartment?
home repair|How can I make my small kitchen feel bigger?
technology|What's the best way to learn to touch type?
productivity|How can I actually keep my New Year's resolutions this year?
pets|What should I consider before adopting a rabbit?
work|How can I stay alert in afternoon meetings without more coffee?
health|I always skip breakfast. Does that matter, and what quick options could I try?
""")

# ---------------------------------------------------------------- compare
group("compare", [
    "What is the difference between {} and {}?",
    "How is {} different from {}?",
    "Explain the difference between {} and {}.",
], """
cooking|baking soda|baking powder
cooking|stock|broth
science|weather|climate
science|a virus|a bacterium
science|speed|velocity
science|mass|weight
nature|a frog|a toad
nature|a crocodile|an alligator
nature|a hurricane|a tornado
geography|a lake|a pond
geography|a country|a continent
history|the Stone Age|the Bronze Age
money|a debit card|a credit card
money|a savings account|a checking account
money|a stock|a bond
money|gross income|net income
programming|a list|a tuple in Python
programming|a compiled language|an interpreted language
programming|HTML|CSS
programming|a function|a method
programming|Git|GitHub
programming|front-end development|back-end development
technology|RAM|storage
technology|Wi-Fi|mobile data
health|a cold|the flu
health|aerobic exercise|anaerobic exercise
health|a vitamin|a mineral
language|"their"|"there"
language|a simile|a metaphor
language|British English|American English
music|a violin|a viola
music|a major key|a minor key
sports|rugby|American football
sports|a marathon|a half marathon
pets|a rabbit|a hare
work|a resume|a CV
work|a manager|a leader
school|a thesis|a dissertation
school|an essay|a report
home repair|a screw|a nail
home repair|latex paint|oil-based paint
gardening|an annual plant|a perennial plant
gardening|compost|fertilizer
math|the mean|the median
math|permutations|combinations
productivity|being busy|being productive
relationships|an acquaintance|a friend
travel|a visa|a passport
geography|latitude|longitude
nature|a moth|a butterfly
cooking|a latte|a cappuccino
""")

group("compare", [
    "Which is better for {}, {} or {}?",
    "For {}, would you choose {} or {}, and why?",
], """
cooking|frying eggs|a cast iron pan|a nonstick pan
health|building strength|free weights|weight machines
travel|a short city trip|a backpack|a rolling suitcase
technology|taking photos on vacation|a phone|a compact camera
school|learning vocabulary|flashcards|reading books
productivity|tracking daily tasks|a notebook|an app
pets|a small apartment|a cat|a dog
sports|new runners|a treadmill|running outside
gardening|a shady balcony|ferns|succulents
home repair|a bathroom wall|matte paint|semi-gloss paint
money|a goal two years away|a savings account|stocks
music|a complete beginner|an acoustic guitar|an electric guitar
programming|a first programming language|Python|JavaScript
work|a quick question to a coworker|email|a chat message
language|practicing listening|podcasts|textbooks
relationships|saying thank you to a host|a handwritten card|a text message
nature|watching birds|binoculars|a camera with a zoom lens
cooking|making coffee at home|a French press|a drip coffee maker
travel|a family of four|a hotel room|a vacation rental
""")

group("compare", [
    "What are the pros and cons of {} versus {}?",
    "Compare {} and {}.",
], """
travel|flying|taking the train between nearby cities
money|renting a home|buying a home
work|working from home|working in an office
school|online classes|in-person classes
health|walking|cycling for exercise
technology|e-books|printed books
cooking|fresh vegetables|frozen vegetables
pets|dry food|wet food for cats
home repair|carpet|hardwood floors
gardening|raised garden beds|planting directly in the ground
productivity|a morning routine|an evening routine
sports|swimming|running as a workout
music|streaming music|buying albums
language|learning with an app|learning with a tutor
money|paying with cash|paying by card
technology|a laptop|a desktop computer
""")

hand("compare", """
cooking|How is a muffin different from a cupcake?
nature|What is the difference between a lake and a sea?
pets|How does caring for a hamster compare with caring for a guinea pig?
music|What is the difference between an orchestra and a band?
money|How is a budget different from a financial plan?
science|What is the difference between an atom and a molecule?
work|How does a part-time job differ from freelancing?
travel|Is it cheaper to travel in summer or in winter, generally speaking?
geography|Compare the climates of Canada and Brazil.
pets|How do cats and dogs differ as pets?
science|Compare the Sun and the Moon in size and distance from Earth.
history|Compare ancient Greek and ancient Roman architecture.
health|Which is healthier, brown rice or white rice, and why?
music|How is a piano different from a harpsichord?
cooking|Compare tea and coffee in terms of caffeine.
sports|How do the rules of table tennis compare with tennis?
nature|What are the main differences between spring and autumn?
language|Is Spanish or Italian easier for an English speaker to learn?
programming|Compare Python and Java for someone learning to program.
technology|How do electric cars compare with gasoline cars on running costs?
geography|Which is taller, Mount Everest or K2, and by how much?
relationships|Compare living in a big city with living in a small town.
home repair|How do LED bulbs compare to incandescent bulbs?
geography|Which is larger, Australia or Greenland?
language|How does a sonnet differ from a haiku?
school|How is studying in a group different from studying alone?
""")

# ---------------------------------------------------------------- define
group("define", [
    "What does {} mean?",
    "What is the meaning of {}?",
    "Can you define {} and use it in a sentence?",
], """
language|the word "ubiquitous"
language|the word "ephemeral"
language|the word "meticulous"
language|the word "resilient"
language|the word "nostalgia"
language|the word "serendipity"
language|the word "pragmatic"
language|the word "candid"
money|the word "frugal"
language|the word "verbose"
language|the word "benevolent"
language|the word "ambiguous"
language|the word "diligent"
language|the word "eloquent"
language|the word "reluctant"
language|the word "whimsical"
""")

group("define", [
    "Define {} in one or two sentences.",
    "What is meant by {}?",
    "Give a short definition of {}.",
    "What is the definition of {}?",
], """
science|osmosis
science|a catalyst
science|inertia
nature|biodiversity
science|a molecule
health|metabolism
health|cardio exercise
money|net worth
money|a dividend
money|liquidity in finance
money|a budget deficit
programming|an algorithm
programming|a bug in software
programming|open-source software
programming|a database
programming|debugging
technology|bandwidth
technology|malware
technology|the cloud in computing
technology|a pixel
cooking|sauteing
cooking|al dente
cooking|umami
cooking|braising
cooking|the baking technique called folding
music|a crescendo
music|syncopation
music|tempo
sports|a hat trick
sports|a personal best
sports|a birdie in golf
gardening|deadheading in gardening
gardening|a perennial
gardening|mulch
home repair|grout
home repair|a load-bearing wall
work|professional networking
work|a stakeholder
work|burnout
school|a syllabus
school|a thesis statement
school|plagiarism
math|a prime number
math|a variable in algebra
math|an integer
math|a percentage
geography|a peninsula
geography|an archipelago
geography|a river delta
history|the Middle Ages
history|an artifact
nature|a habitat
nature|camouflage
pets|a pedigree dog
productivity|time blocking
relationships|etiquette
travel|a layover
travel|an itinerary
science|a light-year
health|an allergy
""")

group("define", [
    'What does the idiom "{}" mean?',
    'What does it mean when someone says "{}"?',
], """
language|break the ice
health|under the weather
language|a piece of cake
school|hit the books
language|spill the beans
language|once in a blue moon
money|cost an arm and a leg
sports|the ball is in your court
cooking|bite off more than you can chew
pets|let the cat out of the bag
pets|barking up the wrong tree
language|on cloud nine
work|burn the midnight oil
language|a blessing in disguise
work|call it a day
travel|hit the road
cooking|too many cooks spoil the broth
music|face the music
language|beat around the bush
work|back to the drawing board
""")

group("define", ["What does {} stand for?", "What is {} short for?"], """
technology|USB
technology|CPU
technology|URL
programming|HTML
programming|SQL
work|CEO
work|ASAP
science|DNA
travel|ETA
money|ATM
health|BMI
school|GPA
technology|PDF
science|NASA
relationships|RSVP
money|APR
technology|GPS
technology|LED
""")

hand("define", """
money|What is a credit limit on a credit card?
cooking|What does it mean to blanch vegetables?
science|What is a hypothesis in science?
technology|What is a web browser?
sports|What does "love" mean as a score in tennis?
history|What was the Bronze Age?
health|What is a calorie in nutrition?
work|What is a cover letter?
language|What is a haiku, and how many syllables does it have?
language|What is a palindrome? Give an example.
cooking|What is a sourdough starter?
nature|What makes an animal a mammal?
science|What is a leap year?
language|What is a noun? Give three examples.
language|What is a compound word? Give two examples.
money|Define opportunity cost using an everyday example.
language|What is a synonym for "happy"?
language|What is an antonym of "generous"?
geography|What is a tributary of a river?
music|What is a time signature in music?
math|What is a right angle?
science|What is an element on the periodic table?
""")

# ---------------------------------------------------------------- summarize
group("summarize", [
    'Summarize this in one sentence: "{}"',
    'Give a short summary of this: "{}"',
    'What is the main point of this text? "{}"',
    'Sum up this passage in a few words: "{}"',
    'Write a one-line summary of this: "{}"',
    'Briefly summarize: "{}"',
], """
cooking|Sourdough bread uses a starter made from flour and water instead of store-bought yeast. The starter ferments for days, giving the bread a tangy flavor.
nature|Honeybees tell each other where flowers are by doing a waggle dance. The angle and length of the dance show the direction and distance to fly.
travel|The museum is open from 9 a.m. to 5 p.m. every day except Monday. Tickets are cheaper online, and children under twelve get in free.
health|Regular walking can improve heart health, lift your mood, and help with sleep. Even twenty minutes a day has noticeable benefits for most adults.
work|Starting next month, team meetings will move from Tuesday to Wednesday morning. Please update your calendars and send agenda items by Monday.
money|Our household spent more on eating out this month than on groceries. Next month we plan to cook at home five nights a week.
science|The Moon has no atmosphere to trap heat, so its temperature swings wildly. Days are hotter than boiling water, and nights are colder than Antarctica.
history|The Great Wall of China was built over many centuries by different dynasties. It protected against invasions and helped control trade along the border.
pets|Cats sleep twelve to sixteen hours a day. They are most active at dawn and dusk, when their wild ancestors usually hunted.
gardening|Tomatoes need at least six hours of direct sun a day. Water them deeply at the base a few times a week rather than lightly every day.
technology|The update improves battery life, fixes a bug that froze the camera app, and adds a dark mode. It takes about ten minutes to install.
sports|The local team came back from two goals down to win 3-2 in the final minutes. Their coach praised the players for never giving up.
school|The science fair will be held in the gym on May 12. Each student should bring a poster and be ready to explain their project to the judges.
music|The orchestra will play Beethoven's Fifth Symphony on Saturday evening. Doors open at seven, and a short talk about the music starts at seven fifteen.
home repair|A dripping faucet usually means a worn washer or cartridge. Turning off the water and replacing that small part often fixes the problem.
language|Learning a few phrases before a trip, like hello and thank you, helps travelers feel more confident and makes locals friendlier.
geography|The Amazon River carries more water than any other river on Earth. It flows across South America and empties into the Atlantic Ocean.
productivity|The two-minute rule says that if a task takes less than two minutes, you should do it right away instead of adding it to your list.
relationships|A good apology names what went wrong, takes responsibility, and offers to make things right. Adding excuses makes it sound less sincere.
nature|Octopuses have three hearts and blue blood. They can change color in less than a second to hide from predators or to communicate.
health|Sunscreen should be put on fifteen minutes before going outside and reapplied every two hours, or more often after swimming.
cooking|For fluffy rice, rinse it to remove extra starch, use the right amount of water, and let it rest covered for ten minutes after cooking.
travel|The airport train runs every fifteen minutes and takes about half an hour to reach the city center. Tickets are sold at machines on the platform.
science|Water expands when it freezes. That is why ice floats and why pipes can burst in very cold weather.
money|A budget shows where your money goes. Many people split their income into needs, wants, and savings to keep spending under control.
work|Customer reviews of the new coffee shop praise its friendly staff and pastries but complain that seating is limited during the morning rush.
pets|Dogs need regular exercise to stay healthy and calm. Without enough activity, many dogs get bored and start chewing furniture or barking.
school|The library will stay open until midnight during exam week. Group study rooms can be booked online up to three days ahead.
programming|The new version of the library is faster and uses less memory. However, two old functions were removed, so some programs may need small changes.
history|The first modern Olympic Games were held in Athens in 1896. About 240 athletes from 14 countries competed in running, swimming, and wrestling.
nature|Sea turtles return to the beach where they hatched to lay their own eggs, sometimes traveling thousands of kilometers to get there.
gardening|Compost turns kitchen scraps and yard waste into rich soil. It needs a mix of green material, brown material, air, and a little moisture.
technology|Two-factor authentication asks for a second proof of identity, like a code sent to your phone, which makes accounts much harder to break into.
sports|Stretching after exercise can reduce stiffness. Experts suggest holding each stretch for about thirty seconds and never bouncing.
music|The band's new album mixes folk guitars with electronic beats. Critics say the first half is strong, but the last few songs feel rushed.
cooking|The review praised the restaurant's fresh pasta and friendly service but said the desserts were too sweet and the room was very noisy.
health|Looking at screens for hours can strain your eyes. Every twenty minutes, look at something twenty feet away for twenty seconds.
work|The company picnic is on Friday at Riverside Park. Food and drinks are provided, families are welcome, and it starts at noon.
geography|Iceland has many active volcanoes and hot springs. Much of the country's heating and electricity comes from geothermal energy.
science|Lightning is a giant electric spark. It heats the air so quickly that the air expands with a bang, which is the thunder we hear.
travel|Our hotel was close to the beach and the staff were helpful, but the room was small and the Wi-Fi stopped working every evening.
relationships|The new neighbors introduced themselves with a plate of cookies and invited everyone on the street to a barbecue next weekend.
math|Rounding makes numbers easier to use. To round to the nearest ten, look at the ones digit: five or more rounds up, and less rounds down.
home repair|Before painting a room, clean the walls, fill small holes, tape the edges, and use a primer if the old color is dark.
productivity|Doing similar tasks together, like answering all your emails at once, saves the mental effort of switching between different kinds of work.
language|English borrows many words from other languages. For example, 'ballet' comes from French, 'piano' from Italian, and 'kindergarten' from German.
nature|Bamboo is one of the fastest-growing plants in the world. Some kinds can grow almost a meter in a single day.
pets|Goldfish need more space than most people think. One goldfish should have a filtered tank of at least twenty gallons, not a small bowl.
cooking|Cast iron pans should be washed with hot water and dried right away. A thin coat of oil after each use stops rust and keeps them nonstick.
science|Plants release oxygen during photosynthesis. Tiny ocean plants called phytoplankton produce a large share of the oxygen we breathe.
travel|Visitors to the national park should stay on marked trails, carry enough water, and never feed the animals. Camping is allowed only at official sites.
money|Comparing unit prices at the grocery store shows which package is really cheaper, since bigger boxes are not always the better deal.
work|The survey found that most employees want more flexible hours. Many also asked for quiet spaces to focus and fewer meetings on Fridays.
health|Most adults need seven to nine hours of sleep. Keeping a regular bedtime and avoiding screens before bed can improve sleep quality.
history|Ancient Egyptians wrote with hieroglyphs, a system of pictures and symbols. The Rosetta Stone helped scholars finally read them in the 1820s.
sports|In table tennis, a game is played to eleven points, and a player must win by two. Players switch serve every two points.
technology|Backing up your photos in two places, such as an external drive and a cloud service, protects them if one copy is lost.
gardening|Herbs like basil and mint grow well in pots on a sunny windowsill. Pinching off the top leaves helps them grow bushier.
school|Students remember more when they quiz themselves instead of rereading notes. Short quizzes spread over several days work best.
pets|Rabbits should eat mostly hay, plus fresh greens and clean water. Their teeth never stop growing, so chewing is important.
nature|The Arctic tern flies from the Arctic to Antarctica and back every year, the longest migration of any animal.
""")

group("summarize", [
    "Summarize the story of {} in three sentences.",
    "Briefly summarize the plot of {}.",
    "Tell me the story of {} in a short paragraph.",
], """
literature|Cinderella
literature|Little Red Riding Hood
literature|the fable The Tortoise and the Hare
literature|Romeo and Juliet
literature|Goldilocks and the Three Bears
literature|The Three Little Pigs
literature|Jack and the Beanstalk
literature|the fable The Boy Who Cried Wolf
literature|Snow White
literature|Hansel and Gretel
literature|Alice's Adventures in Wonderland
literature|Treasure Island
literature|The Ugly Duckling
literature|Peter Pan
literature|Robinson Crusoe
literature|A Christmas Carol by Charles Dickens
literature|Homer's Odyssey
""")

group("summarize", [
    "Give a brief summary of {}.",
    "Summarize {} in a few sentences.",
], """
history|the first Moon landing in 1969
history|the travels of Marco Polo
history|the building of the Panama Canal
history|the invention of the telephone
science|the discovery of penicillin
history|the Wright brothers' first flight
history|the history of the Eiffel Tower
science|Charles Darwin's voyage on the Beagle
history|the sinking of the Titanic
technology|the history of the smartphone
sports|the history of the FIFA World Cup
music|the life of Wolfgang Amadeus Mozart
science|the life of Marie Curie
history|the legend of the Trojan Horse
""")

hand("summarize", """
nature|Summarize the life cycle of a butterfly in a few sentences.
history|Summarize why the ancient Romans built aqueducts.
technology|Summarize what the internet is in two simple sentences.
pets|Summarize the basic needs of a pet hamster.
money|Summarize the main idea of saving for a rainy day.
cooking|Summarize the main steps of making a cup of tea.
sports|Summarize the key rules of basketball in a few bullet points.
health|Summarize the benefits of regular exercise in three points.
geography|Summarize what causes the seasons in two sentences.
science|Summarize the water cycle in four short steps.
productivity|Summarize this to-do list in one sentence: "buy bread, return library books, call mom, pay phone bill"
work|Summarize this email in one line: "Hi all, the kitchen will be cleaned Friday, so please take your food out of the fridge by Thursday evening. Thanks!"
relationships|Summarize this text exchange: "Are we still on for 6? Yes, but can we make it 6:30? Sure, see you then."
work|Summarize the main features of a good resume.
school|Summarize the main parts of a persuasive essay.
""")

# ---------------------------------------------------------------- brainstorm
group("brainstorm", [
    "Give me {}.",
    "Can you suggest {}?",
    "Brainstorm {}.",
    "I need {}.",
    "Help me think of {}.",
], """
relationships|fun ideas for a rainy day with kids
relationships|ideas for a tenth anniversary gift
relationships|themes for a child's birthday party
cooking|easy dinner ideas using chicken and rice
cooking|creative toppings for homemade pizza
cooking|ideas for using up leftover bread
cooking|healthy lunch ideas to bring to work
travel|ideas for a weekend trip without a car
travel|fun things to do on a long road trip
school|science fair project ideas for middle school
school|essay topics about the ocean
math|fun ways to practice multiplication tables
work|icebreaker questions for a team meeting
work|names for a small cleaning business
work|ideas for a team-building activity
money|low-cost date night ideas
pets|names for a black cat
pets|games to play with a bored dog indoors
gardening|ideas for a small shady garden
gardening|uses for fallen autumn leaves
home repair|ways to make a rented apartment feel cozy
home repair|ideas for organizing a messy garage
music|names for a jazz band
music|themes for a school concert
sports|fun warm-up games for a kids' soccer practice
sports|names for a bowling team
technology|ideas for a simple mobile app
programming|beginner Python project ideas
language|fun ways to practice speaking French at home
nature|outdoor activities for a sunny autumn day
nature|ways to attract birds to a backyard
productivity|ways to make a boring chore more fun
productivity|ideas for a calm morning routine
health|fun ways to stay active without a gym
health|healthy snack ideas for kids
history|ideas for a history-themed party
geography|fun geography quiz questions for kids
science|simple science experiments to do at home
math|math games for a family game night
relationships|conversation starters for meeting new neighbors
work|names for a podcast about small businesses
cooking|names for a food truck that sells tacos
travel|themes for a travel blog
relationships|ways to celebrate a friend's promotion
cooking|vegetarian dishes for a holiday dinner
cooking|breakfast ideas that take under ten minutes
travel|day trip ideas near the mountains
school|ideas for a class fundraiser
work|article ideas for a company newsletter
pets|ideas for celebrating a cat's birthday
gardening|names for a community garden
music|song ideas about friendship
sports|ideas for a neighborhood sports day
technology|ideas for a video channel about cooking
language|ideas for a bilingual story time at a library
relationships|ideas for a surprise party for my mom
health|ideas for a relaxing evening at home
productivity|ways to organize a small desk
nature|ideas for a nature scavenger hunt
history|ideas for a school project about ancient Egypt
math|real-life examples that explain percentages
science|ideas for a kid-friendly astronomy night
home repair|ideas for a small bathroom makeover
money|ideas for a fun savings challenge
""")

group("brainstorm", [
    "What are some creative ways to {}?",
    "Suggest some creative ways to {}.",
    "Brainstorm clever ways to {}.",
], """
home repair|reuse glass jars
home repair|decorate a plain white wall
cooking|use up overripe bananas
gardening|reuse old plastic plant pots
school|make studying history more fun
work|celebrate a team success
relationships|say thank you to a teacher
pets|exercise a dog on a rainy day
health|remember to drink water during the day
music|practice scales without getting bored
language|learn new vocabulary every day
money|save money on holiday gifts
technology|use an old smartphone
sports|keep kids interested in sports
nature|teach kids about nature in a city
travel|remember a trip after it ends
math|teach fractions using food
productivity|remember important dates
""")

hand("brainstorm", """
school|Give me some fun ideas for the last day of school before summer.
gardening|What are some unusual vegetables I could try growing this year?
work|Suggest some fun ways to welcome a new coworker to the office.
pets|Brainstorm some toys I could make at home for my cat.
music|Suggest some easy songs a beginner could learn on the ukulele.
travel|What are some fun things to do in a city on a rainy day?
sports|Give me some ideas for making a daily walk more interesting.
language|Suggest some fun word games to play on a long car ride.
technology|Help me come up with a catchy title for a blog post about houseplants.
cooking|Suggest a name for a bakery that specializes in cinnamon rolls.
cooking|What could I cook for dinner with eggs, spinach, and cheese?
cooking|What could I make with potatoes, onions, and carrots?
nature|Give me three slogans for a neighborhood cleanup day.
money|Suggest some hobbies I could try that cost very little.
relationships|What are some fun questions to ask at a family reunion?
literature|Come up with a few names for a book club that reads mysteries.
technology|Suggest some themes for a photography project this summer.
nature|What are some fun ways to celebrate the first day of spring?
literature|Brainstorm possible plot twists for a mystery story set on a train.
pets|Suggest some good names for a golden retriever puppy.
school|Brainstorm ways a library could attract more teenagers.
cooking|Give me ideas for decorating cupcakes for a kids' party.
games|Suggest some fun team names for a trivia night.
""")

# ---------------------------------------------------------------- howto
group("howto", [
    "How do I {}?",
    "What are the steps to {}?",
    "How do you {}?",
    "Walk me through how to {}.",
    "Explain step by step how to {}.",
    "What's the easiest way to {}?",
    "Show me how to {}.",
    "Can you tell me how to {}?",
], """
cooking|boil an egg
cooking|cook rice on the stove
cooking|make a simple pancake batter
cooking|sharpen a kitchen knife
cooking|make cold brew coffee
cooking|chop an onion quickly
cooking|roast vegetables in the oven
cooking|make a basic omelette
cooking|clean a cast iron pan
cooking|make homemade lemonade
cooking|fold a burrito
cooking|store fresh herbs
sports|fix a flat bicycle tire
home repair|unclog a bathroom sink
home repair|hang a picture on drywall
home repair|patch a small hole in a wall
home repair|reset a tripped circuit breaker
home repair|fix a running toilet
home repair|caulk a bathtub
home repair|paint a wooden chair
home repair|assemble a bookshelf from a kit
home repair|remove a stripped screw
home repair|get rid of fruit flies in the kitchen
gardening|plant tulip bulbs
gardening|repot a houseplant
gardening|start a compost bin
gardening|grow basil from seeds
gardening|prune a rose bush
gardening|water succulents properly
technology|take a screenshot on a laptop
technology|back up a phone
technology|set up a new email account
technology|connect a printer to Wi-Fi
technology|clear a browser cache
technology|create a strong password
technology|turn on dark mode on a phone
money|make a simple budget in a spreadsheet
programming|install Python on a computer
programming|write a hello world program in Python
programming|read a text file in Python
programming|create a new Git repository
programming|reverse a string in Python
programming|sort a list of numbers in Python
programming|center text on a web page with CSS
programming|find the cause of a program crash
money|open a savings account
money|make a monthly budget
money|track daily spending
money|compare prices when shopping online
travel|apply for a passport
travel|pack a carry-on bag efficiently
travel|find cheap flights
travel|plan a road trip
travel|read a subway map in a new city
pets|teach a dog to sit
pets|trim a cat's nails
pets|clean a fish tank
pets|crate train a puppy
pets|give a dog a bath
health|do a proper push-up
health|start a walking routine
health|do a simple breathing exercise to relax
health|stretch the lower back
health|make a healthy green smoothie
health|do a proper squat
school|write a good thesis statement
school|take better notes in class
school|cite a book in APA style
school|prepare for an oral presentation
school|study with flashcards
work|write a resume for a first job
work|prepare for a job interview
work|write a professional email signature
work|ask a manager for feedback
work|run a short team meeting
productivity|set up a weekly planner
productivity|use the Pomodoro technique
productivity|declutter a closet
productivity|organize files on a computer
music|tune a guitar
music|read sheet music
music|play a C major chord on the piano
music|keep a steady beat on drums
sports|serve a tennis ball
sports|shoot a basketball free throw
sports|tie running shoes so they stay tied
sports|warm up before a soccer game
language|greet someone politely in Spanish
language|use a semicolon correctly
language|say thank you in Japanese
language|improve English pronunciation
math|find the area of a triangle
math|convert a fraction to a percentage
math|calculate an average
math|solve a simple linear equation
math|do long division
geography|read a topographic map
geography|use a compass to find north
nature|identify common trees by their leaves
nature|build a simple birdhouse
nature|start a campfire safely
science|grow salt crystals at home
science|make a baking soda and vinegar volcano
science|show the phases of the moon with a lamp and a ball
relationships|write a thank-you card
relationships|set a table for a formal dinner
relationships|politely decline an invitation
relationships|introduce two people at a party
history|start researching family history
""")

hand("howto", """
home repair|How do I clean a smelly garbage disposal?
pets|How do I get my cat used to a carrier before a trip to the vet?
travel|How do I exchange money before traveling abroad?
programming|How do I add a new column to a table in a spreadsheet?
music|How do I change the strings on an acoustic guitar?
school|How should I plan my time for a research paper due in two weeks?
cooking|How do I make my own bread crumbs from stale bread?
cooking|I just got a sourdough starter from a friend. How do I keep it alive?
home repair|How do I get a red wine stain out of a white shirt?
gardening|How do I remove rust from old garden tools?
home repair|What's the best way to wash a wool sweater by hand?
sports|How can I teach my kid to ride a bike?
science|How do I fold a paper airplane that flies far?
home repair|How do I fold a fitted sheet neatly?
nature|How do I get started with birdwatching?
language|How do I write a haiku?
gardening|How do I keep cut flowers fresh for longer?
technology|How do I share my screen during a video call?
cooking|How do I tell if an avocado is ripe?
""")

# ---------------------------------------------------------------- classify
group("classify", [
    'Is this review positive or negative? "{}"',
    'Classify the sentiment of this review as positive, negative, or mixed: "{}"',
    'What is the tone of this comment: positive, negative, or neutral? "{}"',
], """
cooking|The pasta was cold and the waiter ignored us all night.
cooking|Best tacos I've had in years, and the staff were lovely.
technology|The headphones sound great, but they hurt my ears after an hour.
technology|Battery life is amazing and setup took two minutes.
travel|The hotel was spotless and the view from our room was stunning.
travel|Our flight was delayed six hours with no explanation.
pets|My dog loves this toy and it has survived a month of chewing.
pets|The cat food arrived in a torn bag and my cat refused to eat it.
home repair|The drill works fine, though the case feels cheap.
home repair|This paint covered the wall in one coat. Very impressed.
gardening|The seeds never sprouted, even after three weeks.
gardening|These gloves are comfortable and keep my hands dry.
music|The concert started late and the sound was muddy.
music|Beautiful album, I've listened to it every day this week.
sports|The running shoes are light and supportive, perfect for long runs.
sports|The yoga mat started peeling after two uses.
school|The course was well organized and the teacher explained everything clearly.
school|The textbook is full of errors and hard to follow.
work|The new office chairs are comfortable, but there aren't enough of them.
money|The banking app is easy to use and transfers are instant.
health|This water bottle leaks every time I put it in my bag.
productivity|This planner finally helped me stay on top of my week.
cooking|The coffee was okay, nothing special.
travel|The tour guide was friendly but the bus was uncomfortable.
technology|The keyboard stopped working after a week.
nature|The hiking trail was well marked and the views were worth every step.
language|The app makes practicing vocabulary fun, though the ads are annoying.
relationships|The party venue was cozy and the staff made everyone feel welcome.
""")

group("classify", [
    "Is {} a mammal, bird, reptile, amphibian, or fish?",
    "Which animal group does {} belong to: mammals, birds, reptiles, amphibians, or fish?",
], """
nature|a dolphin
nature|a bat
nature|a penguin
nature|a salamander
nature|a shark
nature|a whale
nature|a sea turtle
nature|a frog
nature|an ostrich
nature|a platypus
nature|a seahorse
nature|a crocodile
nature|an owl
nature|a newt
nature|a gecko
nature|an eel
""")

group("classify", [
    'Is this statement a fact or an opinion? "{}"',
    'Fact or opinion: "{}"',
], """
geography|Paris is the capital of France.
sports|Soccer is the most exciting sport to watch.
science|Water boils at 100 degrees Celsius at sea level.
cooking|Chocolate ice cream is better than vanilla.
nature|Whales are mammals.
music|The Beatles made the best music of all time.
history|The Eiffel Tower was completed in 1889.
pets|Cats make better pets than dogs.
math|A triangle has three sides.
travel|Summer is the best time to visit Italy.
health|Broccoli tastes terrible.
science|The Earth orbits the Sun.
school|Math is the hardest subject in school.
technology|Smartphones have made life better for everyone.
geography|Mount Everest is the tallest mountain above sea level.
language|Spanish is a beautiful language.
gardening|Roses are the prettiest flowers.
work|Mondays are the worst day of the week.
nature|Spiders have eight legs.
money|Saving money is more important than having fun.
""")

group("classify", ["Sort these into fruits and vegetables: {}."], """
cooking|apple, carrot, banana, broccoli, grape, and spinach
cooking|pear, lettuce, mango, celery, cherry, and potato
cooking|strawberry, onion, kiwi, cabbage, plum, and garlic
cooking|peach, kale, pineapple, beet, lemon, and radish
""")

group("classify", ["Which of these animals are mammals and which are not: {}?"], """
nature|horse, eagle, dolphin, lizard, bat, and salmon
nature|cow, snake, elephant, parrot, mouse, and frog
nature|whale, chicken, rabbit, turtle, goat, and shark
nature|tiger, crow, seal, toad, squirrel, and trout
""")

group("classify", ["Which of these usually float in water and which sink: {}?"], """
science|a cork, a coin, a leaf, a rock, and an apple
science|a key, a rubber duck, a marble, a wooden spoon, and a nail
science|an ice cube, a spoon, a ping pong ball, a brick, and a feather
science|a plastic bottle cap, a paper clip, a pine cone, a glass marble, and a sponge
""")

group("classify", ["Sort these words into nouns and verbs: {}."], """
language|run, table, sing, river, jump, and pencil
language|write, garden, swim, window, laugh, and bread
language|climb, teacher, cook, mountain, read, and chair
language|dance, cloud, think, bottle, travel, and shoe
""")

group("classify", ["Which of these are countries and which are cities: {}?"], """
geography|Peru, Tokyo, Kenya, Madrid, Norway, and Cairo
geography|Chile, Toronto, Egypt, Rome, Vietnam, and Sydney
geography|Brazil, Berlin, India, Lima, Greece, and Dublin
geography|Canada, Nairobi, Portugal, Seoul, Mexico, and Oslo
""")

group("classify", ["Sort these instruments into string, wind, and percussion: {}."], """
music|violin, flute, drum, cello, trumpet, and xylophone
music|harp, clarinet, tambourine, guitar, oboe, and cymbals
music|double bass, saxophone, triangle, banjo, trombone, and bongos
music|viola, tuba, marimba, ukulele, piccolo, and snare drum
""")

group("classify", ["Classify these numbers as even or odd: {}."], """
math|14, 27, 33, 48, 51, and 100
math|9, 22, 75, 86, 101, and 64
math|3, 18, 45, 70, 99, and 212
math|17, 40, 63, 88, 125, and 350
""")

group("classify", ['Is the word "{}" usually a noun, a verb, or an adjective?'], """
language|happiness
language|bright
language|decide
language|forest
language|gentle
language|imagine
language|curious
language|bridge
""")

group("classify", ["Which continent is {} in?"], """
geography|Kenya
geography|Peru
geography|Thailand
geography|Norway
geography|Egypt
geography|Vietnam
geography|Argentina
geography|Portugal
geography|Morocco
geography|New Zealand
""")

group("classify", ["Is {} a prime number or a composite number?"], """
math|29
math|51
math|97
math|91
math|57
math|83
""")

group("classify", [
    'Which budget category fits this purchase: groceries, transport, entertainment, or utilities? "{}"',
], """
money|a monthly bus pass
money|two movie tickets
money|the electricity bill
money|a bag of apples and a loaf of bread
money|concert tickets for Saturday
money|a tank of gas for the car
money|the water bill
money|a carton of eggs and some milk
""")

group("classify", ['Is this email likely spam or a normal message? "{}"'], """
technology|Congratulations! You've won a free cruise. Click here now to claim your prize!
work|Hi Sam, attached are the meeting notes from Tuesday. Let me know if I missed anything.
technology|URGENT: your account will be closed today unless you confirm your password here.
school|Reminder: the parent-teacher meeting is on Thursday at 4 p.m. in room 12.
money|Make $5000 a week from home with this one simple trick!!!
relationships|Hey, are we still meeting for coffee on Sunday morning?
""")

group("classify", ['Is this sentence a question, a command, or a statement? "{}"'], """
language|Please close the window before you leave.
language|The train leaves at noon.
language|Where did you put the scissors?
language|Bring your own water bottle to practice.
language|My sister plays the cello.
language|Have you ever been to Scotland?
language|Turn left at the bakery.
language|Our garden gets a lot of sun in the afternoon.
""")

group("classify", [
    'What genre is this book description: mystery, science fiction, romance, or fantasy? "{}"',
], """
literature|A detective must find out who stole a famous painting from a locked museum.
literature|A young wizard discovers a hidden kingdom beneath her village.
literature|The crew of a starship wakes up to find Earth has vanished.
literature|Two rival bakers fall in love while competing in a town festival.
literature|A knight sets out to find a dragon that guards a magic sword.
literature|A journalist investigates strange disappearances in a quiet seaside town.
""")

group("classify", ["Is {} a solid, a liquid, or a gas at room temperature?"], """
science|oxygen
science|mercury
science|iron
science|olive oil
science|helium
science|table salt
science|carbon dioxide
science|candle wax
""")

group("classify", ["Is {} a renewable or a nonrenewable energy source?"], """
science|wind power
science|coal
science|solar power
science|natural gas
science|hydroelectric power
science|oil
""")

group("classify", ['Label the tone of this message as friendly, neutral, or angry: "{}"'], """
work|Thanks so much for your help today, you made my week!
work|The meeting has been moved to 3 p.m.
home repair|This is the third time I've asked you to fix the heater!
relationships|Can't wait to see you at the party, it'll be great!
work|Please find the updated schedule attached.
travel|I'm extremely disappointed that my booking was lost again.
relationships|Hope your first day went well, let me know how it was!
money|Your invoice is due on March 3.
""")

group("classify", ["Is {} a team sport or an individual sport?"], """
sports|basketball
sports|archery
sports|ice hockey
sports|figure skating
sports|water polo
sports|gymnastics
sports|volleyball
sports|golf
""")

group("classify", ["Is {} a herbivore, a carnivore, or an omnivore?"], """
nature|a cow
nature|a lion
nature|a brown bear
nature|a rabbit
nature|a wolf
nature|a pig
nature|a giraffe
nature|a raccoon
""")

group("classify", [
    'Classify this task as urgent or not urgent: "{}"',
], """
productivity|Pay the electricity bill that is due tomorrow.
productivity|Reorganize the bookshelf sometime this month.
productivity|Reply to a client who needs an answer by noon today.
productivity|Look into new recipes for next week.
productivity|Pick up a prescription before the pharmacy closes tonight.
productivity|Sort through old photos on my laptop.
""")

group("classify", ['Which school subject does this question belong to? "{}"'], """
school|What is the capital of Japan?
school|How do you find the area of a circle?
school|Who painted the Mona Lisa?
school|What gas do plants take in from the air?
school|When did the First World War begin?
school|What is the past tense of the verb to swim?
""")

group("classify", ["Is {} botanically a fruit or a vegetable?"], """
cooking|a tomato
cooking|a cucumber
cooking|a carrot
cooking|an avocado
cooking|spinach
cooking|a pumpkin
""")

hand("classify", """
technology|Is a keyboard an input device or an output device?
nature|Are mushrooms plants, animals, or something else?
programming|Is Python a compiled or an interpreted language?
geography|Is Madagascar an island or a peninsula?
health|Is an orange a good source of vitamin C or vitamin D?
work|Is "leadership" a hard skill or a soft skill?
math|Is a square also a rectangle? Explain briefly.
money|Is a car loan an asset or a liability for the borrower?
programming|In Python, is the value 3.0 an integer or a float?
pets|Is a guinea pig a rodent?
science|Is a tomato plant a producer or a consumer in a food chain?
history|Was the printing press invented before or after the telescope?
""")

# ---------------------------------------------------------------- compute
hand("compute", """
math|If today is Monday, what day of the week will it be in 10 days?
math|How many minutes are there between 9:45 a.m. and 11:20 a.m.?
math|What is the next number in the sequence 2, 4, 8, 16?
math|What is the least common multiple of 4 and 6?
math|What is the greatest common divisor of 36 and 48?
math|Round 3.14159 to two decimal places.
math|What is 0.75 written as a fraction?
math|Write 3/8 as a decimal.
nature|How many legs do 7 spiders and 3 cats have in total?
cooking|A pizza is cut into 8 slices and I eat 3. What fraction of the pizza is left?
math|What is 2 to the power of 10?
programming|Convert the binary number 1011 to decimal.
music|A movie starts at 7:15 p.m. and lasts 2 hours and 10 minutes. When does it end?
math|Two angles of a triangle are 50 and 60 degrees. What is the third angle?
sports|A soccer team won 12 of its 20 games. What percentage of games did it win?
technology|My phone battery drops 12 percent per hour. How long until it goes from 84 percent to empty?
math|How many hours are there in a leap year?
money|A coffee costs $3.80. How many can I buy with $20, and how much change is left?
travel|A flight leaves at 10:40 p.m. and lands 7 hours and 35 minutes later. What time does it land?
school|There are 28 students and each table seats 6. How many tables are needed?
""")

_UNITS = [  # (from, to, topic, lo, hi)
    ("kilometers", "miles", "travel", 5, 120),
    ("miles", "kilometers", "travel", 3, 60),
    ("pounds", "kilograms", "health", 10, 200),
    ("kilograms", "pounds", "health", 2, 90),
    ("degrees Celsius", "degrees Fahrenheit", "science", 5, 40),
    ("degrees Fahrenheit", "degrees Celsius", "cooking", 12, 18),
    ("cups", "milliliters", "cooking", 2, 6),
    ("ounces", "grams", "cooking", 2, 16),
    ("feet", "meters", "home repair", 6, 40),
    ("inches", "centimeters", "home repair", 3, 36),
    ("liters", "gallons", "travel", 10, 60),
    ("meters", "feet", "sports", 100, 400),
]
_BUY = [("notebooks", "school"), ("coffee mugs", "cooking"), ("cans of tennis balls", "sports"),
        ("flower pots", "gardening"), ("bus tickets", "travel"), ("cans of cat food", "pets"),
        ("light bulbs", "home repair"), ("packs of guitar strings", "music"),
        ("USB cables", "technology"), ("birthday cards", "relationships")]
_SALE = [("jacket", "money"), ("pair of shoes", "sports"), ("desk lamp", "home repair"),
         ("backpack", "school"), ("bicycle", "sports"), ("blender", "cooking"),
         ("suitcase", "travel")]
_INGREDIENTS = ["flour", "rice", "milk", "broth", "sugar", "oats", "chopped tomatoes"]
_PEOPLE = ["my friend", "my brother", "my neighbor", "my coworker", "my cousin"]


def _money(rng, lo, hi):
    return "${:.2f}".format(rng.randint(lo * 4, hi * 4) / 4)


def _clock(h, m):
    return "{}:{:02d}".format(h, m)


def _amount(r, unit, lo, hi):
    n = r.randint(lo, hi)
    return n * 25 if unit == "degrees Fahrenheit" else n  # oven temperatures


def _c_mul(r):
    return "math", "What is {} times {}?".format(r.randint(12, 99), r.randint(3, 19))


def _c_pct(r):
    return "math", "What is {} percent of {}?".format(
        r.choice([10, 15, 20, 25, 30, 40, 60, 75]), r.randint(2, 30) * 20)


def _c_buy(r):
    item, topic = r.choice(_BUY)
    return topic, "If I buy {} {} at {} each, how much do I spend in total?".format(
        r.randint(3, 12), item, _money(r, 1, 15))


def _c_conv(r):
    a, b, topic, lo, hi = r.choice(_UNITS)
    return topic, "Convert {} {} to {}.".format(_amount(r, a, lo, hi), a, b)


def _c_conv2(r):
    a, b, topic, lo, hi = r.choice(_UNITS)
    return topic, "Roughly how many {} is {} {}?".format(b, _amount(r, a, lo, hi), a)


def _c_avg(r):
    xs = [str(r.randint(2, 60)) for _ in range(r.randint(4, 6))]
    return "math", "What is the average of {} and {}?".format(", ".join(xs[:-1]), xs[-1])


def _c_scores(r):
    xs = [str(r.randint(60, 100)) for _ in range(4)]
    return "school", "My test scores this term were {}, {}, {}, and {}. What is my average score?".format(*xs)


def _c_recipe(r):
    n = r.choice([2, 4, 6])
    m = r.choice([x for x in (3, 5, 8, 9, 10, 12) if x != n])
    q = r.choice(["1", "1.5", "2", "3", "half a"])
    unit = "cup" if q in ("1", "half a") else "cups"
    return "cooking", "A recipe for {} people needs {} {} of {}. How much do I need for {} people?".format(
        n, q, unit, r.choice(_INGREDIENTS), m)


def _c_speed(r):
    return "travel", "If a car travels at {} kilometers per hour for {} hours, how far does it go?".format(
        r.randrange(40, 115, 5), r.choice([2, 3, 4, 1.5, 2.5, 5]))


def _c_train(r):
    v = r.randrange(30, 90, 5)
    return "travel", "A train travels at {} miles per hour. How long will it take to go {} miles?".format(
        v, v * r.choice([2, 3, 4, 5, 6]))


def _c_rect(r):
    return "math", "What is the area of a rectangle that is {} meters long and {} meters wide?".format(
        r.randint(5, 30), r.randint(2, 15))


def _c_circle(r):
    return "math", "What is the area of a circle with a radius of {} centimeters?".format(r.randint(2, 20))


def _c_garden(r):
    return "gardening", "How much fencing do I need to go around a garden that is {} feet by {} feet?".format(
        r.randint(8, 40), r.randint(5, 25))


def _c_split(r):
    return "money", "We are splitting a ${} dinner bill evenly among {} people. How much does each person pay?".format(
        r.randint(40, 240), r.randint(3, 8))


def _c_tip(r):
    return "money", "How much is a {} percent tip on a {} meal?".format(
        r.choice([10, 15, 18, 20]), _money(r, 20, 120))


def _c_sale(r):
    item, topic = r.choice(_SALE)
    return topic, "A {} costs ${} and is on sale for {} percent off. What is the sale price?".format(
        item, r.randint(20, 200), r.choice([10, 15, 20, 25, 30, 40, 50]))


def _c_div(r):
    b = r.randint(3, 15)
    return "math", "What is {} divided by {}?".format(b * r.randint(12, 90), b)


def _c_addsub(r):
    return "math", "What is {} plus {} minus {}?".format(r.randint(100, 900), r.randint(50, 500), r.randint(20, 300))


def _c_save(r):
    return "money", "If I save ${} every week, how much will I have after {} weeks?".format(
        r.randrange(10, 105, 5), r.randint(6, 52))


def _c_sq(r):
    n = r.randint(11, 30)
    if r.random() < 0.5:
        return "math", "What is the value of {} squared?".format(n)
    return "math", "What is the square root of {}?".format(n * n)


def _c_frac(r):
    b, d = r.choice([2, 3, 4, 5, 6, 8]), r.choice([2, 3, 4, 5, 6, 8])
    a = r.choice([x for x in range(1, b) if math.gcd(x, b) == 1])
    c = r.choice([x for x in range(1, d) if math.gcd(x, d) == 1])
    return "math", "What is {}/{} plus {}/{}? Give the answer as a fraction.".format(a, b, c, d)


def _c_arrive(r):
    return "travel", "If my train leaves at {} a.m. and the trip takes {} minutes, what time do I arrive?".format(
        _clock(r.randint(6, 11), r.randrange(0, 60, 5)), r.randrange(25, 175, 5))


def _c_units_time(r):
    k = r.randint(0, 2)
    n = r.randint(2, 12)
    return "math", ["How many seconds are in {} hours?", "How many days are in {} weeks?",
                    "How many minutes are in {} days?"][k].format(n)


def _c_wage(r):
    return "work", "I earn {} per hour and work {} hours a week. How much do I earn each week?".format(
        r.choice(["$12", "$14.50", "$15", "$16.25", "$18", "$20", "$22.50"]), r.randint(10, 40))


def _c_interest(r):
    return "money", "What is the simple interest on ${} at {} percent per year for {} years?".format(
        r.randrange(500, 10500, 500), r.choice([2, 3, 4, 5, 6]), r.randint(2, 6))


def _c_pace(r):
    d = r.choice([5, 10])
    return "sports", "A runner finishes {} kilometers in {} minutes. What is her average time per kilometer?".format(
        d, r.randint(d * 4, d * 7))


def _c_dogfood(r):
    return "pets", "A bag of dog food costs {} and lasts {} days. How much does it cost per day?".format(
        _money(r, 20, 60), r.choice([20, 25, 30, 40, 45, 60]))


def _c_rows(r):
    return "gardening", "I want to plant {} seedlings in rows of {}. How many rows do I need?".format(
        r.randint(20, 80), r.choice([4, 5, 6, 8]))


def _c_floor(r):
    return "home repair", "A room is {} feet by {} feet. How many square feet of flooring do I need?".format(
        r.randint(8, 20), r.randint(8, 16))


def _c_paint(r):
    return "home repair", "One can of paint covers {} square feet. How many cans do I need for {} square feet of wall?".format(
        r.choice([250, 300, 350, 400]), r.randrange(400, 1600, 50))


def _c_data(r):
    return "technology", "How many megabytes are in {} gigabytes if 1 gigabyte is 1024 megabytes?".format(r.randint(2, 16))


def _c_study(r):
    return "school", "If I study {} minutes a day for {} days, how many hours is that in total?".format(
        r.choice([20, 30, 40, 45, 50, 90]), r.randint(5, 30))


def _c_py(r):
    op = r.choice(["//", "%"])
    return "programming", "What does the Python expression {} {} {} evaluate to?".format(r.randint(20, 99), op, r.randint(3, 9))


def _c_owe(r):
    return "money", "I lent {} ${} and got ${} back so far. How much is still owed?".format(
        r.choice(_PEOPLE), r.randrange(50, 300, 10), r.randrange(10, 50, 5))


def _c_age(r):
    y = r.randint(1950, 2015)
    return "history", "If someone was born in {}, how old will they turn in {}?".format(y, r.randint(2025, 2040))


COMPUTE = [  # (generator, how many)
    (_c_mul, 6), (_c_pct, 6), (_c_buy, 7), (_c_conv, 8), (_c_conv2, 6), (_c_avg, 5),
    (_c_scores, 4), (_c_recipe, 6), (_c_speed, 5), (_c_train, 4), (_c_rect, 4),
    (_c_circle, 4), (_c_garden, 4), (_c_split, 5), (_c_tip, 5), (_c_sale, 6),
    (_c_div, 5), (_c_addsub, 4), (_c_save, 5), (_c_sq, 5), (_c_frac, 5),
    (_c_arrive, 4), (_c_units_time, 5), (_c_wage, 4), (_c_interest, 4), (_c_pace, 4),
    (_c_dogfood, 4), (_c_rows, 4), (_c_floor, 4), (_c_paint, 4), (_c_data, 3),
    (_c_study, 4), (_c_py, 5), (_c_owe, 4), (_c_age, 4),
]


# ---------------------------------------------------------------- build
def normalize(text):
    text = re.sub(r"[^a-z0-9 ]+", " ", text.lower())
    return " ".join(text.split())


def build():
    """Return a list of (kind, topic, text, template_id)."""
    out = []
    for gi, (kind, templates, rows) in enumerate(GROUPS):
        rng = random.Random("{}-group-{}".format(SEED, gi))
        rows = list(rows)
        rng.shuffle(rows)
        for i, (topic, fills) in enumerate(rows):
            t = templates[i % len(templates)]
            if t.count("{}") != len(fills):
                raise ValueError("fill mismatch for {!r}: {!r}".format(t, fills))
            out.append((kind, topic, t.format(*fills), t))
    for kind, rows in HAND:
        for topic, parts in rows:
            out.append((kind, topic, parts[0], None))
    for fn, n in COMPUTE:
        rng = random.Random("{}-compute-{}".format(SEED, fn.__name__))
        seen = set()
        while len(seen) < n:
            topic, text = fn(rng)
            if text in seen:
                continue
            seen.add(text)
            out.append(("compute", topic, text, fn.__name__))
    return out


def check(items):
    problems = []
    seen = {}
    for kind, _topic, text, _ in items:
        if kind not in KINDS:
            problems.append("bad kind {!r}: {}".format(kind, text))
        if not text.isascii() or "\n" in text or text != text.strip():
            problems.append("bad characters/whitespace: {!r}".format(text))
        n = len(text.split())
        if not MIN_WORDS <= n <= MAX_WORDS:
            problems.append("{} words: {}".format(n, text))
        key = normalize(text)
        if key in seen:
            problems.append("duplicate: {!r} / {!r}".format(seen[key], text))
        seen[key] = text
    per_kind = Counter(k for k, _, _, _ in items)
    for kind in KINDS:
        if per_kind[kind] < MIN_PER_KIND:
            problems.append("kind {} has only {}".format(kind, per_kind[kind]))
    per_template = Counter(t for _, _, _, t in items if t is not None)
    cap = MAX_TEMPLATE_SHARE * len(items)
    for t, c in per_template.items():
        if c > cap:
            problems.append("template used {} times (cap {:.0f}): {}".format(c, cap, t))
    return problems


def main():
    items = build()
    problems = check(items)
    if problems:
        for p in problems:
            print("ERROR:", p, file=sys.stderr)
        sys.exit(1)
    items.sort(key=lambda x: (KINDS.index(x[0]), x[2]))
    with open(OUT_PATH, "w", encoding="ascii", newline="\n") as f:
        for kind, topic, text, _ in items:
            f.write(json.dumps({"text": text, "kind": kind, "topic": topic}) + "\n")
    per_kind = Counter(k for k, _, _, _ in items)
    print("wrote {} prompts to {}".format(len(items), OUT_PATH))
    print("  " + ", ".join("{}={}".format(k, per_kind[k]) for k in KINDS))


if __name__ == "__main__":
    main()
