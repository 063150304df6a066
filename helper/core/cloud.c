/*
 * Microsoft's cloud instances.
 *
 * Sources, as opened when this table was written:
 * - Sign-in hosts: Microsoft Entra "National clouds" page
 *   (learn.microsoft.com/entra/identity-platform/authentication-national-cloud,
 *   MicrosoftDocs/entra-docs docs/identity-platform/authentication-national-cloud.md):
 *   login.microsoftonline.com (global), login.microsoftonline.us (US
 *   Government), login.partner.microsoftonline.cn (21Vianet). Older
 *   Microsoft pages and MSAL name login.chinacloudapi.cn for China.
 * - Exchange Online hosts of GCC High and 21Vianet: the -ConnectionUri
 *   values in Microsoft's Connect-ExchangeOnline reference
 *   (MicrosoftDocs/office-docs-powershell): outlook.office365.us and
 *   partner.outlook.cn. The same reference gives webmail.apps.mil for DoD
 *   PowerShell, which is not the OAuth resource.
 * - Global scopes: Microsoft's "Authenticate an IMAP, POP or SMTP
 *   connection using OAuth" (delegated scopes on outlook.office.com,
 *   app-only https://outlook.office365.com/.default). Global mail servers:
 *   smtp.office365.com from Microsoft's article on sending mail from
 *   devices and applications through Microsoft 365; outlook.office365.com
 *   for IMAP and POP3 as clients use it.
 */
#include "cloud.h"

#include <stddef.h>
#include <string.h>

static const struct cloud_hosts clouds[] = {
    [CLOUD_GLOBAL] = {
        .name = "global",
        .login = "https://login.microsoftonline.com",
        .user_resource = "https://outlook.office.com",
        .app_resource = "https://outlook.office365.com",
        .imap = {.host = "outlook.office365.com", .port = 993},
        .pop3 = {.host = "outlook.office365.com", .port = 995},
        .smtp = {.host = "smtp.office365.com", .port = 587},
    },
    /*
     * NOTE: Microsoft's pages opened name outlook.office365.us only as the
     * Exchange Online endpoint, not as the IMAP/POP3 server or the scope
     * resource, and none named smtp.office365.us; these follow public
     * client configurations for GCC High.
     */
    [CLOUD_USGOV] = {
        .name = "usgov",
        .login = "https://login.microsoftonline.us",
        .user_resource = "https://outlook.office365.us",
        .app_resource = "https://outlook.office365.us",
        .imap = {.host = "outlook.office365.us", .port = 993},
        .pop3 = {.host = "outlook.office365.us", .port = 995},
        .smtp = {.host = "smtp.office365.us", .port = 587},
    },
    /*
     * NOTE: unconfirmed in Microsoft's documentation. outlook-dod.office365.us
     * as the Exchange resource and the mail server follows public
     * tools for DoD tenants (CISA's ScubaGear requests
     * https://outlook-dod.office365.us/.default); set the endpoints and
     * scope by hand if the tenant uses other hosts.
     */
    [CLOUD_USGOV_DOD] = {
        .name = "usgov-dod",
        .login = "https://login.microsoftonline.us",
        .user_resource = "https://outlook-dod.office365.us",
        .app_resource = "https://outlook-dod.office365.us",
        .imap = {.host = "outlook-dod.office365.us", .port = 993},
        .pop3 = {.host = "outlook-dod.office365.us", .port = 995},
        .smtp = {.host = "outlook-dod.office365.us", .port = 587},
    },
    /*
     * NOTE: partner.outlook.cn is Microsoft's Exchange Online host for
     * 21Vianet; its use as the IMAP/POP3 server and as scope resource,
     * and smtp.partner.outlook.cn for SMTP, follow public client
     * configurations, not a Microsoft page opened here.
     */
    [CLOUD_CHINA] = {
        .name = "china",
        .login = "https://login.partner.microsoftonline.cn",
        .user_resource = "https://partner.outlook.cn",
        .app_resource = "https://partner.outlook.cn",
        .imap = {.host = "partner.outlook.cn", .port = 993},
        .pop3 = {.host = "partner.outlook.cn", .port = 995},
        .smtp = {.host = "smtp.partner.outlook.cn", .port = 587},
    },
};

#define NCLOUDS (sizeof(clouds) / sizeof(clouds[0]))

const struct cloud_hosts *
cloud_get(enum cloud c)
{
    if ((size_t)c >= NCLOUDS)
        c = CLOUD_GLOBAL;
    return &clouds[c];
}

int
cloud_parse(const char *s, enum cloud *c_r)
{
    for (size_t i = 0; i < NCLOUDS; i++)
        if (strcmp(s, clouds[i].name) == 0) {
            *c_r = (enum cloud)i;
            return 0;
        }
    return -1;
}

const char *
cloud_name(enum cloud c)
{
    return cloud_get(c)->name;
}
