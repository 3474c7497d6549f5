# Textes de sonde, en français (langue par défaut).
# Les textes « client » sont courts et sans jargon ; les textes « technicien » donnent le détail.

## Résumé

summary-healthy = Tout fonctionne : nous n'avons trouvé aucun problème sur votre connexion.
summary-unknown = Le diagnostic n'a pas pu aboutir : certaines vérifications n'ont pas pu être faites.

## Étapes (barre de progression)

check-link = Connexion au réseau
check-gateway = Réponse de la box
check-internet_latency = Temps de réponse d'Internet
check-dns = Annuaire des sites (DNS)
check-http = Accès aux sites web
check-path = Chemin jusqu'à Internet
check-mtu = Taille des paquets
check-throughput = Débit
check-responsiveness = Réactivité sous charge
check-wifi = WiFi
check-mobile = Réseau mobile
check-system = État de la box
check-unknown = Vérification

## Constats

NO_LINK = Votre appareil n'est connecté à aucun réseau.
    .detail = Aucune interface autre que loopback n'a de porteuse et d'adresse ({ $interfaces_up } interface active).
    .customer = Vérifiez que le câble Ethernet est bien branché ou que le WiFi est activé et connecté à votre box, puis relancez le test.
    .technician = Vérifier l'état des interfaces (carrier, adresse DHCP) et la liaison physique ou l'association WiFi.

NO_DEFAULT_ROUTE = Votre appareil est connecté, mais ne sait pas comment joindre Internet.
    .detail = Une interface est active mais aucune route par défaut n'est configurée (bail DHCP incomplet ?).
    .customer = Débranchez puis rebranchez votre appareil du réseau (ou désactivez et réactivez le WiFi), puis relancez le test.
    .technician = Vérifier le bail DHCP (option routeur) ou la configuration statique ; `ip route` ne montre aucune route par défaut.

GATEWAY_UNREACHABLE = Votre box ne répond pas.
    .detail = La passerelle { $gateway } n'a répondu à aucune des { $probes } requêtes ICMP, alors que le lien est actif.
    .customer = Vérifiez que votre box est allumée, puis redémarrez-la (débranchez-la 10 secondes). Relancez le test après deux minutes.
    .technician = Vérifier l'alimentation et l'état de la box, l'ARP vers { $gateway }, et un éventuel filtrage ICMP sur la box.

GATEWAY_PACKET_LOSS = La liaison entre votre appareil et votre box perd des données.
    .detail = { $loss } % de pertes vers la passerelle { $gateway } (seuil { $threshold } %).
    .customer = Rapprochez-vous de la box ou branchez-vous en Ethernet, puis relancez le test.
    .technician = Pertes sur le réseau local : vérifier le câble, le signal WiFi, les interférences et les compteurs d'erreurs des interfaces.

GATEWAY_HIGH_LATENCY = Votre box répond lentement.
    .detail = Temps de réponse médian { $rtt } ms et gigue { $jitter } ms vers la passerelle { $gateway }.
    .customer = Rapprochez-vous de la box ou branchez-vous en Ethernet. Si le problème persiste, redémarrez la box.
    .technician = Latence anormale sur un seul saut local : congestion WiFi, box surchargée (CPU) ou réseau local saturé.

DNS_NO_RESOLVER = Votre appareil n'a pas d'annuaire de sites (DNS) configuré.
    .detail = Aucun serveur DNS trouvé ({ $source }).
    .customer = Débranchez puis rebranchez votre appareil du réseau pour qu'il reçoive à nouveau sa configuration, puis relancez le test.
    .technician = Aucun « nameserver » configuré : vérifier l'option DNS du bail DHCP et la configuration du résolveur.

DNS_RESOLVER_FAILING = Votre box fonctionne, mais les noms des sites ne sont plus traduits en adresses (DNS) : les sites ne s'ouvrent pas.
    .detail = Le ou les résolveurs { $failing } ne répondent pas ({ $answering } sur { $configured } répondent), alors que la passerelle répond.
    .customer = Redémarrez votre box. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Résolveur en échec (délai, SERVFAIL ou port fermé) : vérifier le relais DNS de la box et les résolveurs de l'opérateur.

DNS_SLOW = Les sites mettent du temps à s'ouvrir : l'annuaire des sites (DNS) répond lentement.
    .detail = Latence DNS médiane { $latency } ms (seuil { $threshold } ms).
    .customer = Redémarrez votre box. Si la lenteur persiste, relancez le test plus tard.
    .technician = Résolution lente : vérifier la charge du résolveur et la latence vers l'opérateur.

CHECK_COULD_NOT_RUN = Une vérification n'a pas pu être faite : le diagnostic est incomplet.
    .detail = La vérification « { $check } » n'a pas pu mesurer : { $reason }.
    .customer = Relancez le test. Si ce message revient, contactez l'assistance.
    .technician = Corriger la cause indiquée (droits, configuration) puis relancer la vérification.

## Interface

problem-no-internet = Pas d'Internet
problem-slow = Internet est lent
problem-wifi = Le WiFi se coupe
problem-sites = Certains sites ou applis ne marchent pas
problem-voip-tv = Téléphone ou TV
problem-mobile = Internet mobile
ui-running = Diagnostic en cours
ui-eta = environ { $seconds } s restantes
ui-diagnosis = Diagnostic : { $summary }
ui-what-to-do = Que faire
ui-evidence = Détails techniques
ui-checks = Vérifications
ui-operator-acts = Votre opérateur doit intervenir.
ui-ticket-queued = Votre demande d'intervention est enregistrée ; un SMS vous confirmera son numéro.
ui-ticket-number = Demande d'intervention { $number } enregistrée ; un SMS de confirmation vous a été envoyé.
ui-run-state = État du test : { $state }
ui-line-question = Quelle ligne voulez-vous tester ?
ui-line-box = La box Internet (compte Internet)
ui-line-mobile = L'Internet mobile (numéro de mobile)
ui-line-id-question = Votre identifiant de compte Internet ou numéro de mobile (Entrée pour passer)
ui-problem-question = Quel est le problème ?
ui-launch = Lancement du diagnostic…
ui-evidence-prompt = Entrée : voir les détails techniques · q puis Entrée : terminer
ui-evidence-hint = Détails techniques : relancez avec --evidence.
ui-ticket-acknowledged = Demande d'intervention { $number } enregistrée.
ui-ticket-sms = SMS de confirmation envoyé.

## Constats Internet

INTERNET_UNREACHABLE = Votre box fonctionne, mais la connexion à Internet est coupée.
    .detail = Aucun des { $anchors } points de mesure sur Internet ne répond, alors que la box répond.
    .customer = Redémarrez votre box et attendez deux minutes. Si Internet ne revient pas, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Coupure au-delà de la box : vérifier la synchronisation de la ligne d'accès, la session PPP/DHCP WAN de la box et le réseau de collecte.

ACCESS_PACKET_LOSS = Votre connexion Internet perd des données : les pages et les appels peuvent se couper.
    .detail = { $loss } % de pertes vers Internet (seuil { $threshold } %), alors que le réseau de la maison n'en perd pas.
    .customer = Redémarrez votre box. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Pertes au-delà de la box : vérifier la ligne d'accès (erreurs, atténuation) et le réseau de l'opérateur ; le test de chemin localise le tronçon.

INTERNET_HIGH_LATENCY = Internet répond lentement depuis votre box.
    .detail = Temps de réponse médian { $rtt } ms et gigue { $jitter } ms vers Internet, alors que la box répond vite.
    .customer = Vérifiez qu'aucun appareil ne télécharge beaucoup en ce moment, puis relancez le test. Si la lenteur continue, contactez votre opérateur.
    .technician = Latence au-delà de la box : congestion de la ligne d'accès (file d'attente) ou routage de l'opérateur.

IPV6_BROKEN = Certains sites peuvent être lents à s'ouvrir : la connexion IPv6 de votre box ne fonctionne pas.
    .detail = Votre appareil a une adresse et une route IPv6, mais aucun point de mesure IPv6 ne répond, alors qu'IPv4 fonctionne.
    .customer = Redémarrez votre box. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = IPv6 cassé, IPv4 fonctionnel : vérifier la délégation de préfixe et la route IPv6 de la box ; les navigateurs attendent IPv6 avant de se rabattre sur IPv4.

## Constats DNS (comparaison)

DNS_ISP_RESOLVER_FAILING = Les sites ne s'ouvrent plus : l'annuaire (DNS) de votre opérateur ne répond pas, alors que d'autres fonctionnent.
    .detail = Le ou les résolveurs { $failing } échouent ({ $answering } sur { $configured } répondent) ; des résolveurs publics répondent normalement.
    .customer = Redémarrez votre box. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Le résolveur de la box ou de l'opérateur est en échec alors qu'Internet et les résolveurs publics fonctionnent : vérifier le relais DNS de la box et les résolveurs de l'opérateur.

DNS_HIJACK = Des adresses mal tapées vous mènent vers des pages qui ne sont pas les bonnes.
    .detail = Le ou les résolveurs { $resolvers } répondent pour des noms qui n'existent pas (détournement des réponses NXDOMAIN).
    .customer = Rien d'urgent : vérifiez l'orthographe des adresses. Si des applications échouent, signalez-le à votre opérateur.
    .technician = Réécriture NXDOMAIN par le résolveur (pages de recherche ou de publicité) : elle casse des applications qui attendent NXDOMAIN ; vérifier l'option de la box ou de l'opérateur.

DNS_AAAA_FAILING = Les sites mettent du temps à commencer à s'ouvrir : l'annuaire des sites (DNS) ne répond pas aux demandes d'adresses IPv6.
    .detail = Le ou les résolveurs { $resolvers } répondent aux requêtes A (IPv4) mais pas aux requêtes AAAA (IPv6) : { $answered } réponses AAAA sur { $sent } requêtes.
    .customer = Redémarrez votre box. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Requêtes AAAA sans réponse, en SERVFAIL ou sans enregistrement alors que A fonctionne : les appareils demandent les deux et attendent AAAA (Happy Eyeballs), chaque nouveau nom reste bloqué le temps du délai du résolveur. Vérifier le relais DNS de la box (filtrage AAAA, micrologiciel) et les résolveurs de l'opérateur.

## Constats WiFi

check-wifi-none = Pas de WiFi

WIFI_WEAK_SIGNAL = Votre appareil capte mal le WiFi de votre box : la connexion est lente et se coupe.
    .detail = Signal { $signal } dBm (rapport signal/bruit { $snr } dB, { $retries } % de retransmissions) sur le réseau « { $ssid } ».
    .customer = Rapprochez-vous de la box, ou éloignez-la des murs épais, des miroirs et du micro-ondes. Pour un appareil fixe, branchez-le en Ethernet.
    .technician = Signal faible : vérifier l'emplacement de la box, la bande (préférer 5 GHz à courte distance), un répéteur ou un point d'accès supplémentaire.

WIFI_CONGESTED = Le canal WiFi de votre box est encombré par les réseaux voisins.
    .detail = Le canal est occupé { $busy } % du temps sur le réseau « { $ssid } ».
    .customer = Redémarrez votre box : elle choisira souvent un canal plus libre. Si le problème revient, utilisez la bande 5 GHz.
    .technician = Canal saturé (temps d'occupation élevé) : changer de canal, passer en 5/6 GHz, réduire la largeur de canal.

WIFI_INTERFERENCE = Le WiFi est perturbé : beaucoup de données doivent être renvoyées.
    .detail = { $retries } % de retransmissions avec un signal de { $signal } dBm sur le réseau « { $ssid } ».
    .customer = Éloignez la box des appareils qui perturbent le WiFi (micro-ondes, babyphone, enceintes sans fil), puis relancez le test.
    .technician = Retransmissions élevées malgré un bon signal : interférences non-WiFi ou nœud caché ; changer de canal.

WIFI_INSECURE = Votre réseau WiFi n'est pas protégé correctement : d'autres peuvent l'utiliser ou voir ce qui y passe.
    .detail = Le réseau « { $ssid } » utilise la sécurité « { $security } ».
    .customer = Dans les réglages WiFi de votre box, choisissez la sécurité WPA2 ou WPA3 et un mot de passe solide.
    .technician = Réseau ouvert, WEP ou WPA-TKIP : passer en WPA2-AES ou WPA3.

## Constats web

CAPTIVE_PORTAL = Ce réseau demande de vous connecter sur une page d'accueil avant d'accéder à Internet.
    .detail = La sonde de portail captif n'obtient pas de réponse 204 ; elle est redirigée vers { $location }.
    .customer = Ouvrez votre navigateur : la page de connexion du réseau s'affiche. Acceptez les conditions ou saisissez vos identifiants, puis relancez le test.
    .technician = Portail captif (réponse 3xx/200 au lieu de 204) : authentification requise sur le réseau local ou le hotspot.

HTTPS_BLOCKED = Les sites sécurisés (https) sont bloqués sur ce réseau, alors que les autres passent.
    .detail = Les connexions au port 443 échouent alors que le port 80 répond.
    .customer = Si vous utilisez un contrôle parental, un antivirus ou le réseau d'une entreprise, vérifiez ses réglages. Sinon, redémarrez votre box.
    .technician = Pare-feu HTTPS : port 443 refusé ou filtré, port 80 ouvert ; vérifier le pare-feu de la box, un proxy ou un filtrage.

TLS_INTERCEPTED = Les connexions sécurisées sont interceptées : les sites refusent de s'ouvrir normalement.
    .detail = Certificat refusé : { $error }.
    .customer = Vérifiez que la date et l'heure de votre appareil sont justes. Si un antivirus ou un logiciel de contrôle inspecte le trafic, désactivez cette option.
    .technician = Erreur de certificat : interception TLS (proxy, antivirus, portail) ou horloge fausse ; comparer l'émetteur du certificat présenté.

REMOTE_SERVICE_DOWN = Votre connexion fonctionne, mais les sites testés ne répondent pas : le problème vient de ces services.
    .detail = Aucun des sites mesurés ne répond ({ $failed }), alors qu'Internet et le DNS fonctionnent.
    .customer = Votre ligne n'est pas en cause. Réessayez plus tard : le service concerné est peut-être en panne.
    .technician = Panne côté service distant : réseau et DNS fonctionnels, serveurs HTTP injoignables.

HTTPS_SLOW = Les pages web mettent du temps à commencer à s'afficher.
    .detail = Temps médian connexion + chiffrement + premier octet : { $latency } ms, alors que le réseau répond vite.
    .customer = Réessayez un peu plus tard. Si cela dure, contactez votre opérateur.
    .technician = Latence HTTPS élevée (ChromeOS HttpsLatency) sans latence réseau : serveurs lents ou chemin vers eux.

THROUGHPUT_BELOW_CONTRACT = Votre connexion est plus lente que ce que permet votre abonnement.
    .detail = Mesuré en { $direction } : { $goodput } Mbit/s, soit { $percent } % des { $expected } Mbit/s qu'une ligne à { $contract } Mbit/s transporte (efficacité TCP/IP { $efficiency } %).
    .customer = Redémarrez votre box et refaites le test, en filaire si possible. Si c'est toujours lent, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Débit utile sous le contrat (attendu = contrat x 1448/1514) avec un réseau local sain : vérifier le débit synchronisé, le profil et la congestion en amont.

BUFFERBLOAT = Votre connexion devient lente à réagir quand elle est chargée.
    .detail = Sous charge, les allers-retours passent de { $idle } ms à { $loaded } ms (+{ $added } ms, { $rpm } RPM) : les files d'attente du chemin sont surdimensionnées (bufferbloat).
    .customer = Les appels et les jeux saccadent pendant un téléchargement. Activer la « gestion intelligente de file » (SQM) de la box, si elle existe, aide ; sinon un signalement est ouvert auprès de votre opérateur.
    .technician = Latence sous charge (draft-ietf-ippm-responsiveness) : FIFO surdimensionnée au goulot ; activer un AQM (fq_codel/cake) ou dimensionner la file au débit de la ligne.

PMTU_BLACK_HOLE = Certains sites ou applications restent bloqués : les gros paquets se perdent en route.
    .detail = Les paquets de plus de { $mtu } octets disparaissent sans message d'erreur (trou noir PMTU).
    .customer = Redémarrez votre box. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Trou noir PMTU : un lien à MTU réduite ne renvoie pas ICMP « fragmentation needed » ; vérifier le MSS clamping et les tunnels (PPPoE, DS-Lite).

## Constats mobile et état de la box

MOBILE_NO_SERVICE = Votre routeur mobile n'a pas de réseau : il ne peut pas se connecter au réseau mobile.
    .detail = Le modem indique « { $registration } » sur l'opérateur « { $operator } » : il n'est pas enregistré sur le réseau.
    .customer = Vérifiez que la carte SIM est bien en place et que votre forfait est actif, puis redémarrez le routeur. Si le problème continue, nous prenons le relais : un signalement est ouvert auprès de votre opérateur.
    .technician = Modem non enregistré (état d'enregistrement 3GPP { $registration }) : vérifier la SIM, l'APN, la couverture à cette adresse et un éventuel blocage (enregistrement refusé) côté opérateur.

MOBILE_WEAK_SIGNAL = Votre routeur mobile capte mal le réseau : la connexion est lente et se coupe.
    .detail = Signal en { $rat } : { $signal }.
    .customer = Placez le routeur près d'une fenêtre ou en hauteur, loin des murs épais, puis relancez le test.
    .technician = Radio faible selon les plages usuelles 3GPP (RSRP/RSRQ/SINR en 4G/5G, RSSI en 2G/3G) : vérifier l'emplacement du routeur, une antenne externe, la cellule et la bande.

MODEM_OVERHEATING = Votre routeur mobile est trop chaud.
    .detail = Le modem est à { $temperature } °C (limite { $threshold } °C).
    .customer = Placez le routeur dans un endroit aéré, à l'abri du soleil et des autres sources de chaleur, puis redémarrez-le.
    .technician = Température du modem au-delà de sa limite : le module bride ou coupe la connexion ; vérifier la ventilation et la température ambiante.

BOX_JUST_REBOOTED = Votre équipement a redémarré il y a quelques minutes : cela explique une coupure récente.
    .detail = { $check } indique qu'il fonctionne depuis { $uptime } secondes.
    .customer = Si vous ne l'avez pas redémarré vous-même et que cela se reproduit, vérifiez son alimentation et prévenez-nous.
    .technician = Redémarrage récent (uptime { $uptime } s) : coupure de courant, plantage ou mise à jour ; consulter les journaux si cela se répète.

BOX_OVERHEATING = Votre box est trop chaude.
    .detail = Le capteur « { $sensor } » indique { $temperature } °C (limite { $threshold } °C).
    .customer = Placez la box dans un endroit aéré, pas dans un meuble fermé, puis redémarrez-la.
    .technician = Température de la box au-delà de sa limite : vérifier la ventilation, les ventilateurs et la température ambiante.

BOX_MEMORY_PRESSURE = Votre box manque de mémoire : elle peut ralentir ou redémarrer.
    .detail = Seulement { $available } % de la mémoire est disponible (limite { $threshold } %).
    .customer = Redémarrez votre box. Si cela se reproduit, nous prenons le relais.
    .technician = Pression mémoire sur la box : chercher un processus qui fuit, un grand nombre de connexions ou un défaut du micrologiciel.

BOX_CPU_OVERLOAD = Le processeur de votre box est surchargé : il peut ralentir la connexion.
    .detail = Charge de { $load } par processeur (limite { $threshold }).
    .customer = Redémarrez votre box, puis relancez le test.
    .technician = Charge soutenue au-delà du nombre de processeurs : chercher un processus très actif sur la box.
